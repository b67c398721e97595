"""The CrossGuard policy pack: rules in importable modules; __main__.py builds the PolicyPack."""
