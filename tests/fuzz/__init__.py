"""Fuzzing: hostile bytes, JSON and mutated real documents against every parser of the agent."""
