"""The Profile fields a steward compares and that MergeProfiles' FieldSourceProfileIds can name (botocore's
FieldSourceProfileIds shape). `Attributes` is a map: one source per custom attribute key."""

NAME_FIELDS = ("FirstName", "MiddleName", "LastName")
PHONE_FIELDS = ("PhoneNumber", "MobilePhoneNumber", "HomePhoneNumber", "BusinessPhoneNumber")
EMAIL_FIELDS = ("EmailAddress", "PersonalEmailAddress", "BusinessEmailAddress")
ADDRESS_FIELDS = ("Address", "ShippingAddress", "MailingAddress", "BillingAddress")
OTHER_FIELDS = ("BirthDate", "Gender", "AccountNumber", "BusinessName", "PartyType", "AdditionalInformation")

# Scalar fields in the order the group page shows them.
SOURCE_FIELDS = NAME_FIELDS + PHONE_FIELDS + EMAIL_FIELDS + ADDRESS_FIELDS + OTHER_FIELDS
ATTRIBUTES = "Attributes"
ADDRESS_PARTS = (
    "Address1",
    "Address2",
    "Address3",
    "Address4",
    "City",
    "County",
    "State",
    "Province",
    "PostalCode",
    "Country",
)


def is_source_key(key: str) -> bool:
    """A key of a decision's field_sources: a scalar field, or 'Attributes.<name>' for one custom attribute."""
    return key in SOURCE_FIELDS or (key.startswith(ATTRIBUTES + ".") and len(key) > len(ATTRIBUTES) + 1)


def to_aws_field_sources(field_sources: dict[str, str]) -> dict:
    """Our flat {'FirstName': id, 'Attributes.tier': id} as MergeProfiles' FieldSourceProfileIds."""
    out: dict = {}
    for key, profile_id in field_sources.items():
        if key.startswith(ATTRIBUTES + "."):
            out.setdefault(ATTRIBUTES, {})[key.split(".", 1)[1]] = profile_id
        else:
            out[key] = profile_id
    return out
