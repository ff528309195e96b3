"""The data-access layer: the only code that knows boto3 and the table's key design."""
