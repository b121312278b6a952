"""HTTP routes, one module per audience: public health, public inference, admin."""
