"""Frames, landmarks and skeletons: everything before the model. Never imports torch or Qt."""
