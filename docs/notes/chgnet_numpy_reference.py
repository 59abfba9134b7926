"""Usage: python chgnet_numpy_reference.py GaAs NaCl Si

Independent float64 NumPy re-implementation of the CHGNet 0.3.0 energy (no torch ops in
the forward pass). Used to test whether torch 2.13 kernels (LayerNorm, SiLU, acos, index_add,...)
could be responsible for the small-displacement softening."""
import sys, warnings, numpy as np, torch
warnings.filterwarnings("ignore")
from pymatgen.core import Lattice, Structure


def structs():
    return {
        "GaAs": Structure.from_spacegroup("F-43m", Lattice.cubic(5.75), ["Ga", "As"], [[0, 0, 0], [0.25, 0.25, 0.25]]) * (2, 2, 2),
        "NaCl": Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]) * (2, 2, 2),
        "Cu": Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.615), ["Cu"], [[0, 0, 0]]) * (3, 3, 3),
        "Si": Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]]) * (2, 2, 2),
        "MgO": Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.21), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]) * (2, 2, 2),
    }

import os, chgnet
CK = os.path.join(os.path.dirname(chgnet.__file__), "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar")
SD = {k: v.double().numpy() if v.is_floating_point() else v.numpy()
      for k, v in torch.load(CK, map_location="cpu", weights_only=False)["model"]["state_dict"].items()}

def lin(x, p, bias=True):
    y = x @ SD[p + ".weight"].T
    return y + SD[p + ".bias"] if bias else y
def silu(x): return x / (1.0 + np.exp(-x))
def sigmoid(x): return 1.0 / (1.0 + np.exp(-x))
def ln(x, p, eps=1e-5):
    mu = x.mean(-1, keepdims=True); var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * SD[p + ".weight"] + SD[p + ".bias"]
def mlp_hidden(x, p):  # Linear-SiLU-(Dropout)-Linear
    return lin(silu(lin(x, p + ".layers.0")), p + ".layers.3")
def gated(x, p, hidden=True):
    if hidden:
        core, gate = mlp_hidden(x, p + ".mlp_core"), mlp_hidden(x, p + ".mlp_gate")
    else:  # hidden_dim=0 : Dropout-Linear
        core, gate = lin(x, p + ".mlp_core.layers.1"), lin(x, p + ".mlp_gate.layers.1")
    return silu(ln(core, p + ".bn1")) * sigmoid(ln(gate, p + ".bn2"))
def rbf(d, p, cutoff, pc=8):
    f = SD[p + ".frequencies"]; x = d[:, None] / cutoff
    env = 1 - (pc+1)*(pc+2)/2 * x**pc + pc*(pc+2) * x**(pc+1) - pc*(pc+1)/2 * x**(pc+2)
    env = np.where(x < 1, env, 0.0)
    return env * np.sqrt(2 / cutoff) * np.sin(f * x) / d[:, None]
def scatter(data, idx, n):
    out = np.zeros((n, data.shape[1])); np.add.at(out, idx, data); return out

class Topo:
    def __init__(self, g):
        self.Z = g.atomic_number.numpy().astype(int)
        self.ag = g.atom_graph.numpy().astype(int); self.img = g.neighbor_image.numpy().astype(np.float64)
        self.d2u = g.directed2undirected.numpy().astype(int); self.u2d = g.undirected2directed.numpy().astype(int)
        self.bg = g.bond_graph.numpy().astype(int)

def energy(T, cart, L):
    """Total model energy (without the constant AtomRef composition term) in eV."""
    n = len(T.Z)
    vec = cart[T.ag[:, 0]] - (cart[T.ag[:, 1]] + T.img @ L)
    r = np.linalg.norm(vec, axis=1); u = vec / r[:, None]
    ru = r[T.u2d]
    b_ag = rbf(ru, "bond_basis_expansion.rbf_expansion_ag", 6.0)
    b_bg = rbf(ru, "bond_basis_expansion.rbf_expansion_bg", 3.0)
    cos = (u[T.bg[:, 2]] * u[T.bg[:, 4]]).sum(1) * (1 - 1e-6)
    th = np.arccos(cos); fq = SD["angle_basis_expansion.fourier_expansion.frequencies"]
    fourier = np.concatenate([np.full((len(th), 1), 1/np.sqrt(2)), np.sin(np.outer(th, fq)), np.cos(np.outer(th, fq))], 1) / np.sqrt(np.pi)
    atom = SD["atom_embedding.embedding.weight"][T.Z - 1]
    bond = lin(b_ag, "bond_embedding", False)
    w_ag = lin(b_ag, "bond_weights_ag", False); w_bg = lin(b_bg, "bond_weights_bg", False)
    ang = lin(fourier, "angle_embedding", False)
    c, bi, bj = T.bg[:, 0], T.bg[:, 1], T.bg[:, 3]
    def atom_conv(i, atom, bond):
        p = f"atom_conv_layers.{i}"
        m = gated(np.concatenate([atom[T.ag[:, 0]], bond[T.d2u], atom[T.ag[:, 1]]], 1), p + ".twoBody_atom")
        m = m * w_ag[T.d2u]
        return lin(scatter(m, T.ag[:, 0], n), p + ".mlp_out.layers.1", False) + atom
    for i in range(3):
        atom = atom_conv(i, atom, bond)
        tot = np.concatenate([bond[bi], bond[bj], ang, atom[c]], 1)
        up = gated(tot, f"bond_conv_layers.{i}.twoBody_bond") * w_bg[bi] * w_bg[bj]
        bond = lin(scatter(up, bi, len(bond)), f"bond_conv_layers.{i}.mlp_out.layers.1", False) + bond
        tot = np.concatenate([bond[bi], bond[bj], ang, atom[c]], 1)
        ang = gated(tot, f"angle_layers.{i}.twoBody_bond", hidden=False) + ang
    atom = atom_conv(3, atom, bond)
    x = ln(atom, "readout_norm")
    for k in (0, 2, 4): x = silu(lin(x, f"mlp.layers.{k}"))
    return lin(x, "mlp.layers.7").sum()

if __name__ == "__main__":
    from chgnet.graph import CrystalGraphConverter
    conv = CrystalGraphConverter(atom_graph_cutoff=6, bond_graph_cutoff=3)
    h = 1e-5
    for name in sys.argv[1:]:
        s0 = structs()[name]; T = Topo(conv(s0)); L = s0.lattice.matrix.copy(); X0 = s0.cart_coords.copy()
        def E(d):
            X = X0.copy(); X[0, 0] += d; return energy(T, X, L)
        out = []
        for d in (0.001, 0.003, 0.01, 0.03, 0.1):
            F = -(E(d + h) - E(d - h)) / (2 * h)
            out.append(F / d)
        print(name, "numpy-f64 F/d:", " ".join(f"{x:8.3f}" for x in out), flush=True)
