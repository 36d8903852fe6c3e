"""Plan annotations and job diffs. Nomad prints the diff structs with their keys in
alphabetical order (they carry JSON tags upstream), so these classes declare their
attributes alphabetically."""

from __future__ import annotations

from typing import Optional

from .job import frozen

DIFF_ADDED = "Added"
DIFF_DELETED = "Deleted"
DIFF_EDITED = "Edited"
DIFF_NONE = "None"


@frozen
class FieldDiff:
    Annotations: Optional[list[str]] = None
    Name: str = ""
    New: str = ""
    Old: str = ""
    Type: str = DIFF_NONE


@frozen
class ObjectDiff:
    Fields: Optional[list[FieldDiff]] = None
    Name: str = ""
    Objects: Optional[list["ObjectDiff"]] = None
    Type: str = DIFF_NONE


@frozen
class TaskDiff:
    Annotations: Optional[list[str]] = None
    Fields: Optional[list[FieldDiff]] = None
    Name: str = ""
    Objects: Optional[list[ObjectDiff]] = None
    Type: str = DIFF_NONE


@frozen
class TaskGroupDiff:
    Fields: Optional[list[FieldDiff]] = None
    Name: str = ""
    Objects: Optional[list[ObjectDiff]] = None
    Tasks: Optional[list[TaskDiff]] = None
    Type: str = DIFF_NONE
    Updates: Optional[dict[str, int]] = None


@frozen
class JobDiff:
    Fields: Optional[list[FieldDiff]] = None
    ID: str = ""
    Objects: Optional[list[ObjectDiff]] = None
    TaskGroups: Optional[list[TaskGroupDiff]] = None
    Type: str = DIFF_NONE


@frozen
class DesiredUpdates:
    Ignore: int = 0
    Place: int = 0
    Migrate: int = 0
    Stop: int = 0
    InPlaceUpdate: int = 0
    DestructiveUpdate: int = 0
    Canary: int = 0


@frozen
class PlanAnnotations:
    DesiredTGUpdates: Optional[dict[str, DesiredUpdates]] = None
