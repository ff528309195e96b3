"""Event delivery adapters (the EventPublisher port, services/ports.py); container.publisher()
gives the process-wide one."""


class PublishFailed(Exception):
    """Some events of a record were not accepted by the bus (the record is retried)."""
