"""The model side: Shift-GCN backbone, Neuron head, text encoders, recognizer. No Qt, OpenCV or MediaPipe."""
