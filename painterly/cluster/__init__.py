"""Beyond one machine: photo collections (and, later, long videos) painted across a Ray cluster.

``runtime`` connects to a cluster (or starts a local one) and says which extra to install when Ray
is missing; ``folder`` paints a list of images on the cluster's workers, each loading the method
once, with the outputs written by the driver exactly as one machine writes them. Ray is optional
(``pip install 'painterly[cluster]'``) and imported only here, only when ``--cluster`` is given.
"""
