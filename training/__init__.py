"""Offline training, evaluation and export. Imports pose and neuron_core, never app."""
