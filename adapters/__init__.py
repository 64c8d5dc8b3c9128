"""sqfast.adapters — data feeds and brokers. Each adapter sees only the core contracts
(`sqfast.types`, `sqfast.protocols`, `sqfast.errors`) and imports its own SDK lazily."""
