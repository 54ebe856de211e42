"""The task engine: specs (YAML + Jinja2), data sources, few-shot, extraction pipelines."""

from harness.tasks.catalog import list_tasks, load_task
from harness.tasks.spec import TaskSpec
from harness.tasks.task import Task

__all__ = ["Task", "TaskSpec", "list_tasks", "load_task"]
