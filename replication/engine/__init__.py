"""What trains networks: IMP and its controls (imp.py), one network's SGD (training.py), stacks of them trained as
one (stacked_mlp.py: the MLPs of a round's seeds as batched matmuls, with the compiled masked step of kernels.py and
masked_step.c; stacked_convnet.py: convnets vmapped with torch.func), and the repellent and attractive losses
(losses.py). Nothing outside this package trains, and nothing in it reports or measures (tests/test_layers.py).

Kept light on purpose: importing the package imports none of its modules (the pytest plugin stays cheap to load).
"""
