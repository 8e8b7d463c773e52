"""The model: layers with their backward rules, losses, optimizers over (parameter, gradient)
pairs, and the Network that chains them. Readable on its own; nothing here knows about
training loops, files or the speed layer."""
