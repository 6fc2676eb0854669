"""Off-screen rendering without a display: VTK's EGL render window (Mesa EGL on a CPU-only machine).

VTK picks its OpenGL window class from ``VTK_DEFAULT_OPENGL_WINDOW`` when the first render window is made; set
here at import, before :mod:`vbq_web.app` imports trame-slicer (and so VTK's rendering), so a user sets no
environment variable. A value the user set is kept (e.g. ``vtkXOpenGLRenderWindow`` to debug on a desktop).
"""

import os

DEFAULT_WINDOW = "vtkEGLRenderWindow"

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", DEFAULT_WINDOW)
