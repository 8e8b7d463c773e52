"""Training: the steppable Trainer, augmentation, metrics, and the state a run resumes from."""
