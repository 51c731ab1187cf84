"""The one error a knowledge file can raise, carrying every problem found, not only the first."""

from __future__ import annotations


class KnowledgeError(Exception):
    """A knowledge file (mappings or cards) is missing, unreadable or invalid."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))
