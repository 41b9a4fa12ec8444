"""Imports of passports exported by another platform (Battery Pass 1.2 aspects, Catena-X BatteryPass 6.1): each
passport of the document mapped back to the mint item identity accepts, with what has no place here listed, never
dropped. Pure rules, no I/O: `document.py` (what is shared), one module per format."""
