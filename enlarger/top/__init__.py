"""The top floor: the application's wiring, server, supervisor, CLI, doctor, gc."""
