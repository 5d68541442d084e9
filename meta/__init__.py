"""LEARNA agents: configuration, the design loop (LEARNA / Meta-LEARNA / Meta-LEARNA-Adapt)."""
