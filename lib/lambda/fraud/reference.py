"""Bundled reference data: ISO 4217 currencies and an ISO 3166 country normaliser.

Kept as Python literals (compiled to .pyc, no file read at cold start); the
country table is parsed into a lookup dict on first use only.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Optional

# ISO 4217 active codes (plus XAU/XAG are deliberately absent: not card currencies).
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
    """.split()
)

# alpha-2|alpha-3|name|aliases... (aliases: common spellings, demonyms are not used).
_COUNTRY_TABLE = """
AD|AND|Andorra
AE|ARE|United Arab Emirates|UAE|Emirates|Dubai|Abu Dhabi
AF|AFG|Afghanistan|Kabul
AG|ATG|Antigua and Barbuda
AL|ALB|Albania
AM|ARM|Armenia
AO|AGO|Angola
AR|ARG|Argentina|Buenos Aires
AT|AUT|Austria|Vienna
AU|AUS|Australia|Sydney|Melbourne
AZ|AZE|Azerbaijan
BA|BIH|Bosnia and Herzegovina|Bosnia
BB|BRB|Barbados
BD|BGD|Bangladesh|Dhaka
BE|BEL|Belgium|Brussels
BF|BFA|Burkina Faso
BG|BGR|Bulgaria|Sofia
BH|BHR|Bahrain
BI|BDI|Burundi
BJ|BEN|Benin
BN|BRN|Brunei|Brunei Darussalam
BO|BOL|Bolivia
BR|BRA|Brazil|Brasil|Sao Paulo|Rio de Janeiro
BS|BHS|Bahamas|The Bahamas
BT|BTN|Bhutan
BW|BWA|Botswana
BY|BLR|Belarus|Minsk
BZ|BLZ|Belize
CA|CAN|Canada|Toronto|Vancouver|Montreal
CD|COD|Democratic Republic of the Congo|DR Congo|DRC|Congo-Kinshasa|Kinshasa
CF|CAF|Central African Republic
CG|COG|Republic of the Congo|Congo|Congo-Brazzaville
CH|CHE|Switzerland|Zurich|Geneva
CI|CIV|Cote d'Ivoire|Ivory Coast
CL|CHL|Chile|Santiago
CM|CMR|Cameroon
CN|CHN|China|Beijing|Shanghai|PRC
CO|COL|Colombia|Bogota
CR|CRI|Costa Rica
CU|CUB|Cuba|Havana
CV|CPV|Cabo Verde|Cape Verde
CY|CYP|Cyprus
CZ|CZE|Czechia|Czech Republic|Prague
DE|DEU|Germany|Deutschland|Berlin|Munich|Frankfurt
DJ|DJI|Djibouti
DK|DNK|Denmark|Copenhagen
DM|DMA|Dominica
DO|DOM|Dominican Republic
DZ|DZA|Algeria|Algiers
EC|ECU|Ecuador|Quito
EE|EST|Estonia|Tallinn
EG|EGY|Egypt|Cairo
ER|ERI|Eritrea
ES|ESP|Spain|Espana|Madrid|Barcelona
ET|ETH|Ethiopia|Addis Ababa
FI|FIN|Finland|Helsinki
FJ|FJI|Fiji
FM|FSM|Micronesia
FR|FRA|France|Paris|Lyon
GA|GAB|Gabon
GB|GBR|United Kingdom|UK|U.K.|Great Britain|Britain|England|Scotland|Wales|Northern Ireland|London
GD|GRD|Grenada
GE|GEO|Georgia (country)|Tbilisi
GH|GHA|Ghana|Accra
GM|GMB|Gambia|The Gambia
GN|GIN|Guinea
GQ|GNQ|Equatorial Guinea
GR|GRC|Greece|Athens
GT|GTM|Guatemala
GW|GNB|Guinea-Bissau
GY|GUY|Guyana
HK|HKG|Hong Kong
HN|HND|Honduras
HR|HRV|Croatia|Zagreb
HT|HTI|Haiti
HU|HUN|Hungary|Budapest
ID|IDN|Indonesia|Jakarta
IE|IRL|Ireland|Dublin
IL|ISR|Israel|Tel Aviv
IN|IND|India|Mumbai|Delhi|New Delhi|Bangalore
IQ|IRQ|Iraq|Baghdad
IR|IRN|Iran|Tehran
IS|ISL|Iceland|Reykjavik
IT|ITA|Italy|Italia|Rome|Milan
JM|JAM|Jamaica|Kingston
JO|JOR|Jordan|Amman
JP|JPN|Japan|Tokyo|Osaka
KE|KEN|Kenya|Nairobi
KG|KGZ|Kyrgyzstan
KH|KHM|Cambodia|Phnom Penh
KI|KIR|Kiribati
KM|COM|Comoros
KN|KNA|Saint Kitts and Nevis
KP|PRK|North Korea|DPRK|Pyongyang
KR|KOR|South Korea|Korea|Republic of Korea|Seoul
KW|KWT|Kuwait
KZ|KAZ|Kazakhstan|Almaty
LA|LAO|Laos
LB|LBN|Lebanon|Beirut
LC|LCA|Saint Lucia
LI|LIE|Liechtenstein
LK|LKA|Sri Lanka|Colombo
LR|LBR|Liberia|Monrovia
LS|LSO|Lesotho
LT|LTU|Lithuania|Vilnius
LU|LUX|Luxembourg
LV|LVA|Latvia|Riga
LY|LBY|Libya|Tripoli
MA|MAR|Morocco|Casablanca
MC|MCO|Monaco
MD|MDA|Moldova
ME|MNE|Montenegro
MG|MDG|Madagascar
MH|MHL|Marshall Islands
MK|MKD|North Macedonia|Macedonia
ML|MLI|Mali
MM|MMR|Myanmar|Burma|Yangon
MN|MNG|Mongolia
MO|MAC|Macao|Macau
MR|MRT|Mauritania
MT|MLT|Malta
MU|MUS|Mauritius
MV|MDV|Maldives
MW|MWI|Malawi
MX|MEX|Mexico|Mexico City|Cancun
MY|MYS|Malaysia|Kuala Lumpur
MZ|MOZ|Mozambique
NA|NAM|Namibia
NE|NER|Niger
NG|NGA|Nigeria|Lagos|Abuja
NI|NIC|Nicaragua
NL|NLD|Netherlands|Holland|The Netherlands|Amsterdam
NO|NOR|Norway|Oslo
NP|NPL|Nepal|Kathmandu
NR|NRU|Nauru
NZ|NZL|New Zealand|Auckland
OM|OMN|Oman
PA|PAN|Panama
PE|PER|Peru|Lima
PG|PNG|Papua New Guinea
PH|PHL|Philippines|Manila
PK|PAK|Pakistan|Karachi|Lahore
PL|POL|Poland|Warsaw
PR|PRI|Puerto Rico
PS|PSE|Palestine
PT|PRT|Portugal|Lisbon
PW|PLW|Palau
PY|PRY|Paraguay
QA|QAT|Qatar|Doha
RO|ROU|Romania|Bucharest
RS|SRB|Serbia|Belgrade
RU|RUS|Russia|Russian Federation|Moscow|Saint Petersburg
RW|RWA|Rwanda|Kigali
SA|SAU|Saudi Arabia|Riyadh
SB|SLB|Solomon Islands
SC|SYC|Seychelles
SD|SDN|Sudan|Khartoum
SE|SWE|Sweden|Stockholm
SG|SGP|Singapore
SI|SVN|Slovenia
SK|SVK|Slovakia
SL|SLE|Sierra Leone
SM|SMR|San Marino
SN|SEN|Senegal|Dakar
SO|SOM|Somalia|Mogadishu
SR|SUR|Suriname
SS|SSD|South Sudan
ST|STP|Sao Tome and Principe
SV|SLV|El Salvador
SY|SYR|Syria|Damascus
SZ|SWZ|Eswatini|Swaziland
TD|TCD|Chad
TG|TGO|Togo
TH|THA|Thailand|Bangkok
TJ|TJK|Tajikistan
TL|TLS|Timor-Leste|East Timor
TM|TKM|Turkmenistan
TN|TUN|Tunisia|Tunis
TO|TON|Tonga
TR|TUR|Turkey|Turkiye|Istanbul|Ankara
TT|TTO|Trinidad and Tobago
TV|TUV|Tuvalu
TW|TWN|Taiwan|Taipei
TZ|TZA|Tanzania|Dar es Salaam
UA|UKR|Ukraine|Kyiv|Kiev
UG|UGA|Uganda|Kampala
US|USA|United States|United States of America|U.S.|U.S.A.|America|New York|Los Angeles|Chicago|San Francisco|Miami|Seattle|Boston|Houston|Washington DC
UY|URY|Uruguay|Montevideo
UZ|UZB|Uzbekistan|Tashkent
VA|VAT|Vatican City|Holy See
VC|VCT|Saint Vincent and the Grenadines
VE|VEN|Venezuela|Caracas
VN|VNM|Vietnam|Viet Nam|Hanoi|Ho Chi Minh City
VU|VUT|Vanuatu
WS|WSM|Samoa
YE|YEM|Yemen|Sanaa
ZA|ZAF|South Africa|Johannesburg|Cape Town
ZM|ZMB|Zambia|Lusaka
ZW|ZWE|Zimbabwe|Harare
"""

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_names: Optional[dict[str, str]] = None  # normalised name/alpha-3/alias -> alpha-2
_alpha2: Optional[frozenset[str]] = None


@lru_cache(maxsize=8192)  # merchants and locations repeat heavily; called several times per transaction
def normalise_text(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form: 'Côte d’Ivoire ' -> 'cote d ivoire'."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii").casefold()
    return _NON_ALNUM.sub(" ", ascii_only).strip()


def _tables() -> tuple[dict[str, str], frozenset[str]]:
    global _names, _alpha2
    if _names is None or _alpha2 is None:
        names: dict[str, str] = {}
        codes = []
        for line in _COUNTRY_TABLE.strip().splitlines():
            alpha2, alpha3, *aliases = line.split("|")
            codes.append(alpha2)
            names[alpha3.lower()] = alpha2
            for alias in aliases:
                names[normalise_text(alias.replace("(country)", ""))] = alpha2
        _names, _alpha2 = names, frozenset(codes)
    return _names, _alpha2


@lru_cache(maxsize=8192)
def country_of(location: str) -> str:
    """ISO 3166 alpha-2 country of a free-text location, or "" when unknown.

    Comma-separated parts are tried from the last ('New York, USA' -> 'USA')
    to the first against names, aliases, a few big cities and alpha-3 codes.
    A bare alpha-2 code counts only when it is the whole location ('NG'):
    as the last part of an address it is too often a US state or a province
    ('Atlanta, GA' is not Gabon).
    """
    names, alpha2 = _tables()
    parts = [p for p in (normalise_text(x) for x in location.split(",")) if p]
    for part in reversed(parts):
        code = names.get(part)
        if code:
            return code
    if len(parts) == 1 and len(parts[0]) == 2 and parts[0].upper() in alpha2:
        return parts[0].upper()
    return ""
