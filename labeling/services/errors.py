class ServiceError(ValueError):
    """A request that breaks a rule; the message is shown to the user as it is."""
