"""The few pieces every package shares: one error base, atomic writes, the cache and data folders,
and device names. Standard library only, so ``pose``, ``neuron_core``, ``training`` and ``app`` can
all import it without pulling in torch, numpy or Qt."""
