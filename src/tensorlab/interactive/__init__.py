"""Interactive explorers: the lecture's pictures, moving (notebooks 02, 04 and 05).

- :func:`dose_network_explorer` -- notebook 02: bend the single-dose network with seven sliders
- :func:`filter_explorer`       -- notebook 04: slide the 3 x 3 filter over the 6 x 6 image
- :func:`layout_explorer`       -- notebook 05: reshape, permute, transpose, unsqueeze, and where
                                   each value goes

Each is one call in its notebook. Each explorer is a model (tensors only; the unit tests drive it), a
matplotlib view of it and ipywidgets controls; where widgets cannot run, the same view is shown as a
still figure (``tensorlab.interactive._base`` explains how one output serves both).
"""

from tensorlab.interactive._base import Explorer, strip_widget_views
from tensorlab.interactive.convolution import ConvModel, FilterExplorer, filter_explorer
from tensorlab.interactive.dose import DoseModel, DoseNetworkExplorer, dose_network_explorer
from tensorlab.interactive.layout import LayoutExplorer, LayoutModel, layout_explorer

__all__ = [
    "Explorer",
    "strip_widget_views",
    "DoseModel",
    "DoseNetworkExplorer",
    "dose_network_explorer",
    "ConvModel",
    "FilterExplorer",
    "filter_explorer",
    "LayoutModel",
    "LayoutExplorer",
    "layout_explorer",
]
