# grader: assignment=leaky_relu_backward
# A correct solution as a plain script (a .py names its assignment in the comment above;
# `# %%` lines split it into cells, like a notebook exported with jupytext).

# %%
import numpy as np


# %%
def leaky_relu_backward(dA, cache):
    """dZ = dA * slope, with slope 1 where Z > 0 and 0.01 elsewhere (Z == 0 included)."""
    Z = cache
    return dA * np.where(Z > 0, 1.0, 0.01).astype(dA.dtype)
