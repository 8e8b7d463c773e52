"""Synthetic digits: MNIST digits re-drawn as people draw them on the canvas, printed in
fonts, or photographed on paper.

They make the bundled network's extra training data (scripts/redraw_mnist.py) and
the benchmarks' drawn, printed and photographed test cases. pen_strokes.py draws
test digits a second, independent way, for evaluation only: never train on it.
"""
