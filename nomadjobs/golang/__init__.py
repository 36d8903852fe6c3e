"""Go's text formats, as Nomad v0.7.1 (built with Go 1.9) prints and parses them.

Nomad's messages embed the output of Go's standard library (``%q``, ``%v``,
``time.Duration``, ``strconv`` errors, ``regexp`` errors, ...) and of a few HashiCorp
Go libraries (go-multierror, go-version). Each module here mirrors one Go package;
clients parse some of these texts, so they must match byte for byte.

This package is the bottom layer: it imports nothing else from ``nomadjobs``.
"""
