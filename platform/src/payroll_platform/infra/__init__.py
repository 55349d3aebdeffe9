"""CDK: the PlatformStack and the composed app of the whole system."""
