"""The server core: state store, FSM, clock, eval broker, scheduler worker and plan
applier, behind the small :class:`Core` protocol the layers above use."""

from .broker import EvalBroker
from .plan_apply import WorkerPlanner, apply_plan, node_fits
from .protocol import Core, Listener
from .server import ServerCore, make_clock

__all__ = ["Core", "EvalBroker", "Listener", "ServerCore", "WorkerPlanner", "apply_plan", "make_clock",
           "node_fits"]
