# This file contains only comments and no job stanza.
// Nothing else here.
