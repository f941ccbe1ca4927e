"""ssm_metarl: the shared library of the course.

One module per idea of the course (see README's course map):

- ``profiles``   run profiles (smoke / class / paper) and seeding
- ``results``    published reference tables and stored paper-profile results
- ``plotting``   the figures every notebook shares
- ``exercises``  ``check_*`` functions used by exercise cells

Later modules (``ssm``, ``scan``, ``maml``, ``tasks``, ``envs``, ``policies``,
``rl``, ``meta_rl``, ``adaptation``) are imported explicitly by the notebooks
that need them, so ``import ssm_metarl`` stays fast.
"""

__version__ = "0.1.0"
