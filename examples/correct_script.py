import numpy as np
def leaky_relu_backward(dA, cache):
    Z = cache
    return np.where(Z > 0, dA, 0.01 * dA)
