"""What every kind shares: API access, names, configuration, the work queue, store credentials."""
