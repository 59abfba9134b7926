"""Run DGL-era M3GNet weights (matgl <= 2.x) correctly under matgl >= 3.

matgl 3.0 changed ``M3GNetGraphConv.node_update_`` to sum each bond's node message
onto the bond's *source* atom; the DGL implementation that trained
M3GNet-MP-2021.2.8-PES summed it onto the *destination* atom. The model version
was not bumped, so the old weights load silently and give wrong energies, forces
and stresses whenever neighbouring atoms differ (NaCl at its M3GNet lattice
constant: -1.30 instead of -3.37 eV/atom, -14 GPa instead of 0). Elemental solids
are unaffected. See notes/m3gnet-matgl4.md for the analysis and validation.
"""

from __future__ import annotations

from typing import Any

import torch
from matgl.layers._graph_convolution import M3GNetGraphConv
from matgl.utils.maths import scatter_add


class DestinationSumM3GNetGraphConv(M3GNetGraphConv):
    """Graph convolution whose node messages are summed at the destination atom."""

    def node_update_(
        self,
        edge_index: torch.Tensor,
        edge_feat: torch.Tensor,
        node_feat: torch.Tensor,
        rbf: torch.Tensor,
        u_per_edge: torch.Tensor | None,
        num_nodes: int,
    ) -> torch.Tensor:
        """Message f([v_src, v_dst, e_ij]) * w(rbf), summed at dst as in DGL."""
        src, dst = edge_index[0], edge_index[1]
        parts = [node_feat[src], node_feat[dst], edge_feat]
        if self.include_state and u_per_edge is not None:
            parts.append(u_per_edge)
        message = self.node_update_func(torch.hstack(parts)) * self.node_weight_func(rbf)
        return scatter_add(message, dst, dim_size=num_nodes, dim=0)


def use_destination_sum(potential: Any) -> int:
    """Switch a loaded potential's conv layers to the DGL convention; count them."""
    model = getattr(potential, "model", potential)
    model = getattr(model, "_orig_mod", model)
    count = 0
    for module in model.modules():
        if type(module) is M3GNetGraphConv:
            module.__class__ = DestinationSumM3GNetGraphConv
            count += 1
        elif isinstance(module, DestinationSumM3GNetGraphConv):
            count += 1
    if count == 0:
        raise TypeError("no M3GNetGraphConv layers found in the potential")
    return count
