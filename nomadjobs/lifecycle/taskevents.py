"""Task events as a v0.7.1 client reports them.

Each constructor fills what ``structs.NewTaskEvent(...).SetXxx(...)`` fills upstream,
including the ``Details`` map (``{}`` when empty, never null) and the DisplayMessage
that ``TaskEvent.PopulateEventDisplayMessage`` derives on the client.
"""

from __future__ import annotations

from .. import structs as s
from ..golang.time import format_duration

RECEIVED = "Received"
TASK_SETUP = "Task Setup"
STARTED = "Started"
TERMINATED = "Terminated"
KILLING = "Killing"
KILLED = "Killed"
RESTARTING = "Restarting"
NOT_RESTARTING = "Not Restarting"
DRIVER_FAILURE = "Driver Failure"
SIBLING_FAILED = "Sibling Task Failed"

BUILDING_TASK_DIR = "Building Task Directory"

# Restart tracker reasons (client/restarts.go).
REASON_WITHIN_POLICY = "Restart within policy"
REASON_DELAY = "Exceeded allowed attempts, applying a delay"
REASON_NO_RESTARTS = "Policy allows no restarts"
REASON_UNNECESSARY = "Restart unnecessary as task terminated successfully"


def received(at_ns: int) -> s.TaskEvent:
    return s.TaskEvent(Type=RECEIVED, Time=at_ns, DisplayMessage="Task received by client", Details={})


def task_setup(at_ns: int, message: str = BUILDING_TASK_DIR) -> s.TaskEvent:
    return s.TaskEvent(Type=TASK_SETUP, Time=at_ns, Message=message, DisplayMessage=message,
                       Details={"message": message})


def started(at_ns: int) -> s.TaskEvent:
    return s.TaskEvent(Type=STARTED, Time=at_ns, DisplayMessage="Task started by client", Details={})


def terminated(at_ns: int, exit_code: int = 0, signal: int = 0, exit_message: str = "") -> s.TaskEvent:
    details = {"exit_code": str(exit_code), "signal": str(signal)}
    display = f"Exit Code: {exit_code}"
    if signal:
        display += f", Signal: {signal}"
    if exit_message:
        details["exit_message"] = exit_message
        display += f', Exit Message: "{exit_message}"'
    return s.TaskEvent(Type=TERMINATED, Time=at_ns, DisplayMessage=display, Details=details,
                       ExitCode=exit_code, Signal=signal)


def restarting(at_ns: int, delay_ns: int, reason: str) -> s.TaskEvent:
    display = f"Task restarting in {format_duration(delay_ns)}"
    if reason and reason != REASON_WITHIN_POLICY:
        display = f"{reason} - {display}"
    return s.TaskEvent(Type=RESTARTING, Time=at_ns, DisplayMessage=display,
                       Details={"start_delay": str(delay_ns), "restart_reason": reason},
                       RestartReason=reason, StartDelay=delay_ns)


def not_restarting(at_ns: int, reason: str) -> s.TaskEvent:
    return s.TaskEvent(Type=NOT_RESTARTING, Time=at_ns, DisplayMessage=reason or "Task exceeded restart policy",
                       Details={"restart_reason": reason, "fails_task": "true"},
                       RestartReason=reason, FailsTask=True)


def driver_failure(at_ns: int, error: str) -> s.TaskEvent:
    return s.TaskEvent(Type=DRIVER_FAILURE, Time=at_ns, DisplayMessage=error or "Failed to start task",
                       Details={"driver_error": error}, DriverError=error)


def killing(at_ns: int, kill_timeout_ns: int) -> s.TaskEvent:
    return s.TaskEvent(Type=KILLING, Time=at_ns,
                       DisplayMessage=f"Sent interrupt. Waiting {format_duration(kill_timeout_ns)} before force killing",
                       Details={"kill_timeout": format_duration(kill_timeout_ns)}, KillTimeout=kill_timeout_ns)


def killed(at_ns: int) -> s.TaskEvent:
    return s.TaskEvent(Type=KILLED, Time=at_ns, DisplayMessage="Task successfully killed", Details={})


def sibling_failed(at_ns: int, sibling: str) -> s.TaskEvent:
    return s.TaskEvent(Type=SIBLING_FAILED, Time=at_ns, DisplayMessage=f'Task\'s sibling "{sibling}" failed',
                       Details={"failed_sibling": sibling}, FailedSibling=sibling)
