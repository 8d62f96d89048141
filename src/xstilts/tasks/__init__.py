"""Task registry: importing this package registers every task module."""

from xstilts.tasks import (
    embedded,  # noqa: F401
    xtreme,  # noqa: F401
    xtreme_r,  # noqa: F401
)
from xstilts.tasks.core import REGISTRY, SCHEMAS, Task, TaskType, get_task, register

__all__ = ["REGISTRY", "SCHEMAS", "Task", "TaskType", "get_task", "register"]
