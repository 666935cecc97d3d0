"""The model catalog: every Zuora object this project exports, declared once each.

A model is one Zuora object exported as one table (DESIGN.md section 1). Each declaration gives the
object's own fields with their Zuora types, its foreign keys and whether Zuora exports its deletes.
Every model also has the common fields `Id`, `CreatedDate`, `UpdatedDate`, `CreatedById` and
`UpdatedById`. At run time `describe` adds custom fields and drops fields the tenant cannot export
(see `zuora.describe`); this catalog is the declared baseline that the simulator also serves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa

ZUORA_TYPES = ("text", "picklist", "integer", "decimal", "boolean", "date", "datetime")

COMMON_FIELDS = "Id:text CreatedDate:datetime UpdatedDate:datetime CreatedById:text UpdatedById:text"

DELETED_COLUMN = "_deleted"
TRANSFERRED_AT_COLUMN = "_transferred_at"


def snake_case(name: str) -> str:
    """`AccountNumber` -> `account_number`, `VATId` -> `vat_id`, `Region__c` -> `region__c`."""
    base, custom = (name[:-3], "__c") if name.endswith("__c") else (name, "")
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", base)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower() + custom


def object_query_plural(obj: str) -> str:
    """The Object Query collection of a Zuora object: `InvoiceItem` -> `invoice-items`, `JournalEntry` -> `journal-entries`."""
    kebab = snake_case(obj).replace("_", "-")
    return kebab[:-1] + "ies" if kebab.endswith("y") else kebab + "s"


def arrow_type(zuora_type: str) -> pa.DataType:
    """The Arrow type of a Zuora field type (DESIGN.md 2.2). Unknown types are text."""
    t = zuora_type.lower()
    if t == "integer":
        return pa.int64()
    if t in ("decimal", "number"):
        return pa.decimal128(38, 9)
    if t == "boolean":
        return pa.bool_()
    if t == "date":
        return pa.date32()
    if t in ("datetime", "timestamp"):
        return pa.timestamp("ms")
    return pa.string()


@dataclass(frozen=True)
class Field:
    """One Zuora field: its API name (`AccountNumber`) and Zuora type (`text`, `decimal`, ...)."""

    name: str
    type: str
    custom: bool = False

    @property
    def column(self) -> str:
        return snake_case(self.name)

    @property
    def arrow_type(self) -> pa.DataType:
        return arrow_type(self.type)


def _parse_fields(spec: str) -> tuple[Field, ...]:
    fields = []
    for token in spec.split():
        name, _, ztype = token.partition(":")
        if ztype not in ZUORA_TYPES:
            raise ValueError(f"field {name!r}: unknown Zuora type {ztype!r}")
        fields.append(Field(name, ztype))
    return tuple(fields)


@dataclass(frozen=True)
class ZuoraModel:
    """One Zuora object exported as one table."""

    object: str
    fields: tuple[Field, ...]
    foreign_keys: dict[str, str] = field(default_factory=dict)
    exports_deletes: bool = True
    primary_key: str = "Id"
    cursor: str = "UpdatedDate"
    description: str = ""

    @property
    def name(self) -> str:
        return snake_case(self.object)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name.lower() == name.lower():
                return f
        raise KeyError(f"model {self.name}: no field {name!r}")

    def arrow_schema(self, fields: tuple[Field, ...] | None = None) -> pa.Schema:
        """Columns an extraction yields: the fields, snake_cased, then `_deleted`.

        The lake adds `_transferred_at` when it writes a transfer, so the files (and tables) end with it.
        """
        fields = self.fields if fields is None else fields
        seen: dict[str, str] = {}
        columns = []
        for f in fields:
            if f.column in seen:
                raise ValueError(
                    f"model {self.name}: fields {seen[f.column]!r} and {f.name!r} both become column {f.column!r}"
                )
            seen[f.column] = f.name
            columns.append(pa.field(f.column, f.arrow_type))
        columns.append(pa.field(DELETED_COLUMN, pa.bool_()))
        return pa.schema(columns)


def _model(obj: str, spec: str, fks: str = "", *, exports_deletes: bool = True, description: str = "") -> ZuoraModel:
    fields = _parse_fields(COMMON_FIELDS + " " + spec)
    foreign_keys = dict(pair.split("->") for pair in fks.split())
    for fk in foreign_keys:
        if fk not in {f.name for f in fields}:
            raise ValueError(f"{obj}: foreign key {fk} is not a declared field")
    return ZuoraModel(obj, fields, foreign_keys, exports_deletes=exports_deletes, description=description)


# One declaration per model (reference/zuora_api.md section 6). Foreign keys are "Field->Object".
_MODELS = [
    _model(
        "Account",
        "AccountNumber:text Name:text Status:picklist Currency:text Balance:decimal CreditBalance:decimal "
        "TotalInvoiceBalance:decimal UnappliedBalance:decimal Mrr:decimal AutoPay:boolean BillCycleDay:integer "
        "Batch:picklist PaymentTerm:text CrmId:text LastInvoiceDate:date TaxExemptStatus:picklist VATId:text "
        "BillToId:text SoldToId:text DefaultPaymentMethodId:text ParentId:text Notes:text",
        "BillToId->Contact SoldToId->Contact DefaultPaymentMethodId->PaymentMethod ParentId->Account",
        description="Customer accounts: the billing entity of every subscription, invoice and payment.",
    ),
    _model(
        "Contact",
        "AccountId:text FirstName:text LastName:text WorkEmail:text WorkPhone:text Address1:text City:text "
        "State:text PostalCode:text Country:text",
        "AccountId->Account",
        description="Bill-to and sold-to contacts of accounts.",
    ),
    _model(
        "Subscription",
        "AccountId:text InvoiceOwnerId:text Name:text Version:integer Status:picklist IsLatestVersion:boolean "
        "OriginalId:text PreviousSubscriptionId:text TermType:picklist AutoRenew:boolean InitialTerm:integer "
        "CurrentTerm:integer RenewalTerm:integer ContractEffectiveDate:date SubscriptionStartDate:date "
        "SubscriptionEndDate:date TermStartDate:date TermEndDate:date CancelledDate:date "
        "OriginalCreatedDate:datetime Currency:text Notes:text",
        "AccountId->Account InvoiceOwnerId->Account OriginalId->Subscription PreviousSubscriptionId->Subscription",
        description="Subscriptions, one row per version: each amendment makes a new Id and expires the old one.",
    ),
    _model(
        "RatePlan",
        "SubscriptionId:text ProductRatePlanId:text AmendmentId:text Name:text AmendmentType:picklist",
        "SubscriptionId->Subscription ProductRatePlanId->ProductRatePlan AmendmentId->Amendment",
        description="Rate plans of subscription versions.",
    ),
    _model(
        "RatePlanCharge",
        "RatePlanId:text ProductRatePlanChargeId:text SubscriptionId:text ChargeNumber:text Name:text "
        "ChargeType:picklist ChargeModel:picklist BillingPeriod:picklist EffectiveStartDate:date "
        "EffectiveEndDate:date ChargedThroughDate:date Quantity:decimal MRR:decimal TCV:decimal Segment:integer "
        "Version:integer IsLastSegment:boolean UOM:text",
        "RatePlanId->RatePlan ProductRatePlanChargeId->ProductRatePlanCharge SubscriptionId->Subscription",
        description="Charges of subscription rate plans.",
    ),
    _model(
        "RatePlanChargeTier",
        "RatePlanChargeId:text Tier:integer StartingUnit:decimal EndingUnit:decimal Price:decimal "
        "PriceFormat:picklist Currency:text",
        "RatePlanChargeId->RatePlanCharge",
        description="Price tiers of subscription charges.",
    ),
    _model(
        "Product",
        "Name:text SKU:text ProductNumber:text Category:picklist Description:text EffectiveStartDate:date "
        "EffectiveEndDate:date",
        description="Product catalog: products.",
    ),
    _model(
        "ProductRatePlan",
        "ProductId:text Name:text Description:text EffectiveStartDate:date EffectiveEndDate:date",
        "ProductId->Product",
        description="Product catalog: rate plans of products.",
    ),
    _model(
        "ProductRatePlanCharge",
        "ProductRatePlanId:text Name:text ChargeType:picklist ChargeModel:picklist BillingPeriod:picklist "
        "DefaultQuantity:decimal UOM:text Taxable:boolean",
        "ProductRatePlanId->ProductRatePlan",
        description="Product catalog: charges of product rate plans.",
    ),
    _model(
        "ProductRatePlanChargeTier",
        "ProductRatePlanChargeId:text Tier:integer StartingUnit:decimal EndingUnit:decimal Price:decimal "
        "PriceFormat:picklist Currency:text Active:boolean",
        "ProductRatePlanChargeId->ProductRatePlanCharge",
        description="Product catalog: price tiers of product charges.",
    ),
    _model(
        "Amendment",
        "SubscriptionId:text Name:text Code:text Type:picklist Status:picklist EffectiveDate:date "
        "ContractEffectiveDate:date AutoRenew:boolean CurrentTerm:integer",
        "SubscriptionId->Subscription",
        description="Amendments that produced subscription versions.",
    ),
    _model(
        "Invoice",
        "AccountId:text InvoiceNumber:text Status:picklist InvoiceDate:date DueDate:date PostedDate:datetime "
        "Amount:decimal AmountWithoutTax:decimal TaxAmount:decimal Balance:decimal PaymentAmount:decimal "
        "RefundAmount:decimal AdjustmentAmount:decimal Currency:text IncludesRecurring:boolean Comments:text",
        "AccountId->Account",
        description="Invoices.",
    ),
    _model(
        "InvoiceItem",
        "InvoiceId:text SubscriptionId:text RatePlanChargeId:text AccountId:text ChargeName:text "
        "ChargeNumber:text ChargeAmount:decimal ChargeDate:datetime UnitPrice:decimal Quantity:decimal UOM:text "
        "SKU:text ServiceStartDate:date ServiceEndDate:date ProcessingType:picklist TaxAmount:decimal "
        "TaxMode:picklist SubscriptionNumber:text",
        "InvoiceId->Invoice SubscriptionId->Subscription RatePlanChargeId->RatePlanCharge AccountId->Account",
        description="Invoice lines: the largest table, often more than 10M rows.",
    ),
    _model(
        "InvoiceItemAdjustment",
        "InvoiceId:text SourceId:text AccountId:text AdjustmentNumber:text AdjustmentDate:date Amount:decimal "
        "Type:picklist Status:picklist SourceType:picklist ReasonCode:text Comment:text",
        "InvoiceId->Invoice SourceId->InvoiceItem AccountId->Account",
        description="Adjustments of invoice lines.",
    ),
    _model(
        "Payment",
        "AccountId:text PaymentMethodId:text PaymentNumber:text Amount:decimal AppliedAmount:decimal "
        "UnappliedAmount:decimal RefundAmount:decimal EffectiveDate:date Status:picklist Type:picklist "
        "Currency:text Gateway:text GatewayState:picklist ReferenceId:text SubmittedOn:datetime "
        "SettledOn:datetime Comment:text",
        "AccountId->Account PaymentMethodId->PaymentMethod",
        description="Payments received.",
    ),
    _model(
        "PaymentMethod",
        "AccountId:text Type:picklist Name:text PaymentMethodStatus:picklist Active:boolean "
        "CreditCardType:picklist CreditCardMaskNumber:text CreditCardExpirationMonth:integer "
        "CreditCardExpirationYear:integer LastTransactionDateTime:datetime NumConsecutiveFailures:integer",
        "AccountId->Account",
        description="Payment methods of accounts.",
    ),
    _model(
        "InvoicePayment",
        "InvoiceId:text PaymentId:text Amount:decimal RefundAmount:decimal",
        "InvoiceId->Invoice PaymentId->Payment",
        description="Applications of payments to invoices.",
    ),
    _model(
        "Refund",
        "AccountId:text PaymentMethodId:text RefundNumber:text Amount:decimal RefundDate:date Status:picklist "
        "Type:picklist SourceType:picklist ReasonCode:text RefundTransactionTime:datetime Currency:text",
        "AccountId->Account PaymentMethodId->PaymentMethod",
        description="Refunds of payments and credit memos.",
    ),
    _model(
        "CreditMemo",
        "AccountId:text InvoiceId:text MemoNumber:text MemoDate:date Status:picklist TotalAmount:decimal "
        "TaxAmount:decimal AppliedAmount:decimal RefundAmount:decimal Balance:decimal Currency:text "
        "PostedOn:datetime ReasonCode:text",
        "AccountId->Account InvoiceId->Invoice",
        description="Credit memos (Invoice Settlement).",
    ),
    _model(
        "CreditMemoItem",
        "CreditMemoId:text CreditFromItemId:text Amount:decimal AmountWithoutTax:decimal TaxAmount:decimal "
        "Quantity:decimal UnitPrice:decimal ChargeName:text SKU:text ChargeDate:datetime ServiceStartDate:date "
        "ServiceEndDate:date ProcessingType:picklist",
        "CreditMemoId->CreditMemo CreditFromItemId->InvoiceItem",
        description="Lines of credit memos.",
    ),
    _model(
        "DebitMemo",
        "AccountId:text InvoiceId:text MemoNumber:text MemoDate:date DueDate:date Status:picklist "
        "TotalAmount:decimal TaxAmount:decimal Balance:decimal Currency:text AutoPay:boolean PostedOn:datetime",
        "AccountId->Account InvoiceId->Invoice",
        description="Debit memos (Invoice Settlement).",
    ),
    _model(
        "DebitMemoItem",
        "DebitMemoId:text SubscriptionId:text Amount:decimal AmountWithoutTax:decimal TaxAmount:decimal "
        "Quantity:decimal UnitPrice:decimal ChargeName:text ChargeDate:datetime ServiceStartDate:date "
        "ServiceEndDate:date ProcessingType:picklist",
        "DebitMemoId->DebitMemo SubscriptionId->Subscription",
        description="Lines of debit memos.",
    ),
    _model(
        "Usage",
        "AccountId:text SubscriptionId:text AccountNumber:text SubscriptionNumber:text Quantity:decimal UOM:text "
        "StartDateTime:datetime EndDateTime:datetime SubmissionDateTime:datetime SourceType:picklist "
        "RbeStatus:picklist UniqueKey:text Description:text",
        "AccountId->Account SubscriptionId->Subscription",
        description="Usage records uploaded for usage-based charges.",
    ),
    _model(
        "TaxationItem",
        "InvoiceItemId:text InvoiceId:text Name:text Jurisdiction:text TaxAmount:decimal TaxRate:decimal "
        "TaxRateType:picklist TaxDate:date TaxMode:picklist TaxCode:text ExemptAmount:decimal "
        "TaxableAmount:decimal",
        "InvoiceItemId->InvoiceItem InvoiceId->Invoice",
        description="Tax lines of invoice items.",
    ),
    _model(
        "BillingRun",
        "AccountId:text BillingRunNumber:text Status:picklist TargetDate:date InvoiceDate:date "
        "ExecutedDate:datetime NumberOfAccounts:integer NumberOfInvoices:integer AutoPost:boolean",
        "AccountId->Account",
        description="Bill runs.",
    ),
    _model(
        "Order",
        "AccountId:text OrderNumber:text Description:text OrderDate:date Status:picklist Category:picklist "
        "CreatedByMigration:boolean",
        "AccountId->Account",
        description="Orders (Orders feature).",
    ),
    _model(
        "OrderAction",
        "OrderId:text SubscriptionId:text Type:picklist Sequence:integer SubscriptionNumber:text "
        "ContractEffectiveDate:date AutoRenew:boolean",
        "OrderId->Order SubscriptionId->Subscription",
        description="Actions of orders.",
    ),
    _model(
        "JournalEntry",
        "Number:text Currency:text HomeCurrency:text Notes:text JournalEntryDate:date TransferDate:datetime "
        "Status:picklist TransactionType:picklist TransactionCount:integer",
        description="Journal entries (Zuora Finance).",
    ),
]

MODELS: dict[str, ZuoraModel] = {m.name: m for m in _MODELS}
MODELS_BY_OBJECT: dict[str, ZuoraModel] = {m.object.lower(): m for m in _MODELS}


def model(name: str) -> ZuoraModel:
    """The model called `name` (`invoice_item`) or the model of Zuora object `name` (`InvoiceItem`)."""
    found = MODELS.get(name) or MODELS_BY_OBJECT.get(name.lower())
    if found is None:
        raise KeyError(f"unknown Zuora model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return found
