"""Storage: network files and MNIST, read as untrusted input from paths the caller passes in."""
