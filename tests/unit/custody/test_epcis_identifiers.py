"""GS1 keys: EPC URNs and Digital Links to the constrained canonical Digital Link."""

from __future__ import annotations

import pytest

from services.custody.domain.epcis.identifiers import gs1_check_digit, to_digital_link

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("identifier", "digital_link"),
    [
        ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
        ("urn:epc:id:sgtin:0614141.107346.A%2FB!", "https://id.gs1.org/01/10614141073464/21/A%2FB%21"),
        ("urn:epc:id:sscc:4012345.0000000333", "https://id.gs1.org/00/040123450000003338"),
        ("urn:epc:id:sgln:4012345.00011.987", "https://id.gs1.org/414/4012345000115/254/987"),
        ("urn:epc:id:sgln:4012345.00011.0", "https://id.gs1.org/414/4012345000115"),
        ("urn:epc:id:grai:4012345.66666.87", "https://id.gs1.org/8003/0401234566666387"),
        ("urn:epc:id:giai:4000001.111", "https://id.gs1.org/8004/4000001111"),
        ("urn:epc:id:gsrn:4012345.9876540000", "https://id.gs1.org/8018/401234598765400000"),
        ("urn:epc:id:gsrnp:4012345.0000098765", "https://id.gs1.org/8017/401234500000987658"),
        ("urn:epc:id:gdti:4012345.11111.123", "https://id.gs1.org/253/4012345111118123"),
        ("urn:epc:id:cpi:4012345.ABC.123", "https://id.gs1.org/8010/4012345ABC/8011/123"),
        ("urn:epc:id:sgcn:4012345.99999.44", "https://id.gs1.org/255/401234599999044"),
        ("urn:epc:id:ginc:4012345.333", "https://id.gs1.org/401/4012345333"),
        ("urn:epc:id:gsin:4012345.999987654", "https://id.gs1.org/402/40123459999876541"),
        ("urn:epc:id:itip:4012345.012345.01.02.999", "https://id.gs1.org/8006/040123451234560102/21/999"),
        ("urn:epc:id:upui:4012345.012345.AB12", "https://id.gs1.org/01/04012345123456/235/AB12"),
        ("urn:epc:id:pgln:4012345.00000", "https://id.gs1.org/417/4012345000009"),
        ("urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877"),
        ("urn:epc:idpat:sgtin:4054739.099914.*", "https://id.gs1.org/01/04054739999148"),
        ("urn:epc:idpat:itip:4012345.012345.01.02.*", "https://id.gs1.org/8006/040123451234560102"),
        ("https://id.gs1.de/414/4012345000115", "https://id.gs1.org/414/4012345000115"),
        ("http://example.com/shop/01/9521141012345/21/7?17=290101#x", "https://id.gs1.org/01/09521141012345/21/7"),
        ("https://example.com/gtin/9521141012345/lot/A1/ser/7", "https://id.gs1.org/01/09521141012345/21/7"),
        ("https://id.gs1.org/01/09521141012345/22/V2/10/L1", "https://id.gs1.org/01/09521141012345/10/L1"),
        ("https://id.gs1.org/01/09521234000013/21/BAT2024-001", "https://id.gs1.org/01/09521234000013/21/BAT2024-001"),
    ],
)
def test_gs1_key_to_digital_link(identifier: str, digital_link: str) -> None:
    assert to_digital_link(identifier) == digital_link
    assert to_digital_link(digital_link) == digital_link


@pytest.mark.parametrize(
    "identifier",
    [
        "urn:uuid:550e8400-e29b-41d4-a716-446655440001",
        "geo:50.947573340894124,6.922120147375441",
        "urn:epc:id:gid:95100000.12345.400",
        "urn:epc:id:sgtin:0614141.10734.2017",
        "https://accreditation-council.example.org/certificate/ABC12345",
        "https://id.gs1.org/01/123/21/1",
        "https://id.gs1.org/01/09521141012345/17/290101",
        "transforming",
    ],
)
def test_not_a_gs1_key(identifier: str) -> None:
    assert to_digital_link(identifier) is None


@pytest.mark.parametrize(
    ("digits", "check_digit"),
    [("950110153000", "3"), ("04012345000000111", "2"), ("401234500011", "5"), ("0000000", "0")],
)
def test_gs1_check_digit(digits: str, check_digit: str) -> None:
    assert gs1_check_digit(digits) == check_digit
