"""The consumption state machine (tests/consumption_machine.py) on the pure core: in-memory
repository and watch store."""

from __future__ import annotations

from hypothesis import settings

from tests.consumption_machine import InMemoryConsumptionMachine

InMemoryConsumptionMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestConsumptionMachine = InMemoryConsumptionMachine.TestCase
