"""The Docker-free local stack: DynamoDB Local, the HTTP API and the Lambda invoke API driven by
template.yaml, the table stream fed to the publisher, the expiry schedule and an event bus.

`python -m local` runs it; tests use `local.stack.start_stack` and `local.template.create_table`.
"""
