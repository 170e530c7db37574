"""The simulator's own harness, which WaveSpeed does not have: inspection, faults, a control client."""
