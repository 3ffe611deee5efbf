"""HTTP routes: thin functions over ``service.registry.Registry``."""
