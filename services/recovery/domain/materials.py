"""Materials recovery accounts for: stoichiometry, chemistry defaults, Annex XII categories. No I/O.

Chemistry default compositions (`CHEMISTRY_DEFAULTS`, kg of material per kg of battery) are used only where a
passport is silent about a material; every use is flagged `basis: chemistry_default`. They are *typical
literature values, rounded*, not measurements:

- Lithium-ion packs: a cathode active material (CAM) share of the pack mass times the CAM's stoichiometric
  composition (computed below from standard atomic weights), plus graphite anode, copper (anode foil, busbars)
  and aluminium (cathode foil, housing) shares of the order reported in pack-level bills of material such as
  Argonne National Laboratory's BatPaC / GREET battery inventories (CAM ≈ 20–28 %, graphite ≈ 13–15 %,
  copper ≈ 9 %, aluminium ≈ 17–20 % of pack mass).
- Lead-acid: about 60–65 % lead (grids, paste, terminals) by battery mass, as commonly stated by lead
  battery recyclers and industry associations; 0.63 is used.
- NiMH and NiCd: nickel, cobalt and manganese contents of the order given in Bernardes, Espinosa and Tenório,
  "Recycling of batteries: a review of current processes and technologies", J. Power Sources 130 (2004).

A passport that declares a material (by name or CAS number in its `material_composition`) always wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from contracts.recovery import ChemistryGroup, RecoveredMaterial, RecoveryChemistry

M = RecoveredMaterial
ZERO = Decimal(0)
FRACTION_QUANTUM = Decimal("0.000001")  # kg per kg

# Standard atomic weights (IUPAC, abridged), g/mol.
ATOMIC_WEIGHT: Mapping[str, Decimal] = {
    "H": Decimal("1.008"),
    "Li": Decimal("6.94"),
    "C": Decimal("12.011"),
    "O": Decimal("15.999"),
    "F": Decimal("18.998"),
    "Al": Decimal("26.982"),
    "P": Decimal("30.974"),
    "S": Decimal("32.06"),
    "Ti": Decimal("47.867"),
    "Mn": Decimal("54.938"),
    "Fe": Decimal("55.845"),
    "Co": Decimal("58.933"),
    "Ni": Decimal("58.693"),
    "Cu": Decimal("63.546"),
    "Pb": Decimal("207.2"),
}
SYMBOL_MATERIAL: Mapping[str, RecoveredMaterial] = {
    "Co": M.cobalt,
    "Ni": M.nickel,
    "Li": M.lithium,
    "Cu": M.copper,
    "Pb": M.lead,
    "Mn": M.manganese,
    "Al": M.aluminium,
}

Formula = Mapping[str, Decimal]


def _f(**atoms: str | int) -> Formula:
    return {symbol: Decimal(str(count)) for symbol, count in atoms.items()}


def mass_fractions(formula: Formula) -> dict[RecoveredMaterial, Decimal]:
    """Mass fraction of each tracked material in a compound, kg/kg, to 1e-6."""
    molar_mass = sum((ATOMIC_WEIGHT[s] * n for s, n in formula.items()), ZERO)
    return {
        SYMBOL_MATERIAL[s]: (ATOMIC_WEIGHT[s] * n / molar_mass).quantize(FRACTION_QUANTUM)
        for s, n in formula.items()
        if s in SYMBOL_MATERIAL
    }


NMC_FORMULAS: Mapping[RecoveryChemistry, Formula] = {
    RecoveryChemistry.nmc111: {
        "Li": Decimal(1),
        "Ni": Decimal(1) / 3,
        "Mn": Decimal(1) / 3,
        "Co": Decimal(1) / 3,
        "O": Decimal(2),
    },
    RecoveryChemistry.nmc532: _f(Li=1, Ni="0.5", Mn="0.3", Co="0.2", O=2),
    RecoveryChemistry.nmc622: _f(Li=1, Ni="0.6", Mn="0.2", Co="0.2", O=2),
    RecoveryChemistry.nmc811: _f(Li=1, Ni="0.8", Mn="0.1", Co="0.1", O=2),
}
NCA_FORMULA = _f(Li=1, Ni="0.8", Co="0.15", Al="0.05", O=2)
LFP_FORMULA = _f(Li=1, Fe=1, P=1, O=4)
LMO_FORMULA = _f(Li=1, Mn=2, O=4)
LTO_FORMULA = _f(Li=4, Ti=5, O=12)

# Compounds a passport's material_composition may name, by CAS number and by normalised name.
# None: the stoichiometry depends on the battery's chemistry (NMC oxides).
_COMPOUNDS: list[tuple[str, tuple[str, ...], Formula | None]] = [
    ("7440-02-0", ("nickel",), _f(Ni=1)),
    ("7440-48-4", ("cobalt",), _f(Co=1)),
    ("7439-96-5", ("manganese",), _f(Mn=1)),
    ("7439-93-2", ("lithium",), _f(Li=1)),
    ("7440-50-8", ("copper",), _f(Cu=1)),
    ("7429-90-5", ("aluminium",), _f(Al=1)),
    ("7439-92-1", ("lead",), _f(Pb=1)),
    ("554-13-2", ("lithium carbonate",), _f(Li=2, C=1, O=3)),
    ("1310-65-2", ("lithium hydroxide",), _f(Li=1, O=1, H=1)),
    ("1310-66-3", ("lithium hydroxide monohydrate",), _f(Li=1, O=2, H=3)),
    ("21324-40-3", ("lithium hexafluorophosphate",), _f(Li=1, P=1, F=6)),
    ("15365-14-7", ("lithium iron phosphate",), LFP_FORMULA),
    ("12190-79-3", ("lithium cobalt oxide",), _f(Li=1, Co=1, O=2)),
    ("12057-17-9", ("lithium manganese oxide",), LMO_FORMULA),
    ("12031-95-7", ("lithium titanate",), LTO_FORMULA),
    ("193214-24-3", ("lithium nickel cobalt aluminium oxide",), NCA_FORMULA),
    ("346417-97-8", ("lithium nickel manganese cobalt oxide",), None),
    ("12054-48-7", ("nickel hydroxide",), _f(Ni=1, O=2, H=2)),
    ("1313-13-9", ("manganese dioxide",), _f(Mn=1, O=2)),
    ("1309-60-0", ("lead dioxide",), _f(Pb=1, O=2)),
    ("1317-36-8", ("lead oxide", "lead monoxide"), _f(Pb=1, O=1)),
    ("7446-14-2", ("lead sulphate",), _f(Pb=1, S=1, O=4)),
]
GRAPHITE_CAS = "7782-42-5"
GRAPHITE_NAMES = ("graphite", "natural graphite", "synthetic graphite", "artificial graphite")


def normalise_name(name: str) -> str:
    text = name.strip().lower().replace("aluminum", "aluminium").replace("sulfate", "sulphate")
    return re.sub(r"\s+", " ", re.sub(r"[()\[\],]", " ", text)).strip()


_BY_CAS = {cas: formula for cas, _, formula in _COMPOUNDS}
_BY_NAME = {normalise_name(n): formula for _, names, formula in _COMPOUNDS for n in names}
_NMC_CAS = "346417-97-8"


def material_fractions(
    name: str, cas_number: str | None, chemistry: RecoveryChemistry | None
) -> dict[RecoveredMaterial, Decimal] | None:
    """What a composition entry contains, kg per kg of the entry; None when recovery cannot map it."""
    normalised = normalise_name(name)
    if cas_number == GRAPHITE_CAS or normalised in GRAPHITE_NAMES:
        return {M.graphite: Decimal(1)}
    known_cas = cas_number in _BY_CAS
    if not known_cas and normalised not in _BY_NAME:
        return None
    formula = _BY_CAS[cas_number] if cas_number is not None and known_cas else _BY_NAME[normalised]
    if formula is None:  # an NMC oxide: its stoichiometry is the battery's chemistry
        nmc = NMC_FORMULAS.get(chemistry) if chemistry is not None else None
        return mass_fractions(nmc) if nmc is not None else None
    return mass_fractions(formula)


def _profile(
    cathode: list[tuple[Formula, str]], graphite: str, copper: str, aluminium: str
) -> dict[RecoveredMaterial, Decimal]:
    profile = {material: ZERO for material in RecoveredMaterial}
    for formula, share in cathode:
        for material, fraction in mass_fractions(formula).items():
            profile[material] += (fraction * Decimal(share)).quantize(FRACTION_QUANTUM)
    profile[M.graphite] += Decimal(graphite)
    profile[M.copper] += Decimal(copper)
    profile[M.aluminium] += Decimal(aluminium)
    return profile


def _fixed(**values: str) -> dict[RecoveredMaterial, Decimal]:
    profile = {material: ZERO for material in RecoveredMaterial}
    profile.update({RecoveredMaterial(k): Decimal(v) for k, v in values.items()})
    return profile


CHEMISTRY_DEFAULTS: Mapping[RecoveryChemistry, Mapping[RecoveredMaterial, Decimal]] = {
    **{
        chem: _profile([(formula, "0.20")], graphite="0.14", copper="0.09", aluminium="0.19")
        for chem, formula in NMC_FORMULAS.items()
    },
    RecoveryChemistry.nca: _profile([(NCA_FORMULA, "0.20")], graphite="0.14", copper="0.09", aluminium="0.19"),
    RecoveryChemistry.lfp: _profile([(LFP_FORMULA, "0.27")], graphite="0.13", copper="0.09", aluminium="0.17"),
    RecoveryChemistry.lmo: _profile([(LMO_FORMULA, "0.25")], graphite="0.13", copper="0.09", aluminium="0.18"),
    # LTO anode (no graphite, aluminium collectors on both electrodes) against an LMO cathode.
    RecoveryChemistry.lto: _profile(
        [(LMO_FORMULA, "0.20"), (LTO_FORMULA, "0.18")], graphite="0", copper="0.02", aluminium="0.27"
    ),
    RecoveryChemistry.lead_acid: _fixed(lead="0.63"),
    RecoveryChemistry.nimh: _fixed(nickel="0.35", cobalt="0.04", manganese="0.02", aluminium="0.01"),
    RecoveryChemistry.nicd: _fixed(nickel="0.20", cobalt="0.01"),
    RecoveryChemistry.other: _fixed(),
}

CHEMISTRY_GROUP: Mapping[RecoveryChemistry, ChemistryGroup] = {
    **{
        chem: ChemistryGroup.lithium_based
        for chem in (
            RecoveryChemistry.nmc111,
            RecoveryChemistry.nmc532,
            RecoveryChemistry.nmc622,
            RecoveryChemistry.nmc811,
            RecoveryChemistry.nca,
            RecoveryChemistry.lfp,
            RecoveryChemistry.lmo,
            RecoveryChemistry.lto,
        )
    },
    RecoveryChemistry.lead_acid: ChemistryGroup.lead_acid,
    RecoveryChemistry.nicd: ChemistryGroup.nickel_cadmium,
    RecoveryChemistry.nimh: ChemistryGroup.other,
    RecoveryChemistry.other: ChemistryGroup.other,
}

_CHEMISTRY_ALIASES: Mapping[str, RecoveryChemistry] = {
    "NMC111": RecoveryChemistry.nmc111,
    "NMC333": RecoveryChemistry.nmc111,
    "NMC532": RecoveryChemistry.nmc532,
    "NMC523": RecoveryChemistry.nmc532,
    "NMC622": RecoveryChemistry.nmc622,
    "NMC811": RecoveryChemistry.nmc811,
    "NCA": RecoveryChemistry.nca,
    "LFP": RecoveryChemistry.lfp,
    "LIFEPO4": RecoveryChemistry.lfp,
    "LMO": RecoveryChemistry.lmo,
    "LIMN2O4": RecoveryChemistry.lmo,
    "LTO": RecoveryChemistry.lto,
    "LEADACID": RecoveryChemistry.lead_acid,
    "PBA": RecoveryChemistry.lead_acid,
    "PB": RecoveryChemistry.lead_acid,
    "SLA": RecoveryChemistry.lead_acid,
    "VRLA": RecoveryChemistry.lead_acid,
    "NIMH": RecoveryChemistry.nimh,
    "NICD": RecoveryChemistry.nicd,
}


def chemistry_from_name(short_name: str | None) -> RecoveryChemistry | None:
    """The recovery chemistry a passport's `battery_chemistry.short_name` names, or None when unknown."""
    if not short_name:
        return None
    key = re.sub(r"[\s_\-/().]", "", short_name.upper()).replace("NCM", "NMC")
    if key in _CHEMISTRY_ALIASES:
        return _CHEMISTRY_ALIASES[key]
    try:
        return RecoveryChemistry(short_name.strip().lower())
    except ValueError:
        return None


# Highest content of a product's principal metal: its anhydrous compound (or the pure metal).
PRODUCT_MAXIMUM_PCT: Mapping[str, tuple[RecoveredMaterial, Decimal]] = {
    "cobalt_sulphate": (M.cobalt, mass_fractions(_f(Co=1, S=1, O=4))[M.cobalt] * 100),
    "nickel_sulphate": (M.nickel, mass_fractions(_f(Ni=1, S=1, O=4))[M.nickel] * 100),
    "manganese_sulphate": (M.manganese, mass_fractions(_f(Mn=1, S=1, O=4))[M.manganese] * 100),
    "lithium_carbonate": (M.lithium, mass_fractions(_f(Li=2, C=1, O=3))[M.lithium] * 100),
    "lithium_hydroxide": (M.lithium, mass_fractions(_f(Li=1, O=1, H=1))[M.lithium] * 100),
}
