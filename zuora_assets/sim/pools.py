"""Value pools and per-model knobs for generated data: picklist weights, text (and its rare CSV hazards), churn."""

from __future__ import annotations

COMPANIES = (
    "Globex Corporation", "Initech", "Umbrella Holdings", "Stark Industries", "Wayne Enterprises",
    "Hooli", "Vandelay Industries", "Soylent Foods", "Tyrell Systems", "Cyberdyne Labs", "Wonka Confections",
    "Oceanic Airlines", "Massive Dynamic", "Aperture Science", "Blue Sun Logistics", "Acme Corporation",
    "Northwind Traders", "Contoso Ltd", "Fabrikam Inc", "Litware Inc", "Adventure Works", "Tailspin Toys",
)

NOTES = (
    "Renewal discussed with finance", "Net 30 approved", "VIP customer", "Migrated from legacy billing",
    "Prefers invoices by email",
)

# Values a careless CSV reader breaks on, and how often real tenants have them. They are rare (account
# names with a comma are common, embedded line breaks are not), so each kind lands in about `rate` of the
# values of a free-text field, and at least once in every model that has free text, so a small tenant has
# them too (reference/zuora_api.md 3.6: "quoted fields can contain newlines"; NUL bytes have been seen).
HAZARDS: dict[str, tuple[tuple[str, ...], float]] = {
    "comma": (("Acme, Inc.", "Smith, Jones & Partners", "Support, Premium"), 0.02),
    "quote": (('The "Best" Widgets', 'Unit 4, "The Works"'), 0.003),
    "newline": (("Line one\nLine two", 'Comma, "quote" and\nnewline'), 0.002),
    "crlf": (("Windows\r\nline break",), 0.001),
    "accented": (("Café Zürich AG", "Müller & Söhne GmbH", "José Núñez", "Łukasz Wróbel"), 0.02),
    "non_latin": (("株式会社サンプル", "ООО «Ромашка»", "Ελληνικά Προϊόντα Α.Ε.", "شركة المثال"), 0.01),
}
FREE_TEXT = ("Name", "Notes", "Comments", "Comment", "Description", "Address1", "Address2", "City",
             "FirstName", "LastName", "CreditCardHolderName", "AchAccountName")

FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances", "Maria", "Wei",
               "Priya", "Olu", "Sven")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "O'Neil",
              "Nakamura", "Okafor", "Larsen", "Garcia", "Chen")
CITIES = ("San Francisco", "New York", "London", "Berlin", "Sydney", "Toronto", "Paris", "Tokyo")
STATES = ("CA", "NY", "WA", "TX", "NSW", "ON", None)
COUNTRIES = ("United States", "United Kingdom", "Germany", "Australia", "Canada", "France", "Japan")
STREETS = ("1 Market St", "500 Fifth Ave", "10 Downing St", "221B Baker St", "42 Wallaby Way", "1600 Amphitheatre Pkwy")
CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP", "AUD")
REGIONS = ("AMER", "EMEA", "APAC", "LATAM")
PRODUCTS = ("Platform", "Analytics Add-on", "Premium Support", "Storage", "API Calls", "Seats")
UOMS = ("Each", "Seat", "GB", "API Call", "Hour")
JURISDICTIONS = ("CALIFORNIA", "NEW YORK", "WASHINGTON", "ONTARIO", "NEW SOUTH WALES")

PICKLISTS: dict[str, tuple[str, ...]] = {
    "Account.Status": ("Active", "Active", "Active", "Draft", "Canceled"),
    "Account.Batch": ("Batch1", "Batch2", "Batch3"),
    "Account.TaxExemptStatus": ("No", "No", "Yes", "PendingVerification"),
    "TermType": ("TERMED", "TERMED", "EVERGREEN"),
    "ChargeType": ("Recurring", "Recurring", "OneTime", "Usage"),
    "ChargeModel": ("Flat Fee Pricing", "Per Unit Pricing", "Tiered Pricing", "Volume Pricing"),
    "BillingPeriod": ("Month", "Month", "Quarter", "Annual"),
    "PriceFormat": ("Flat Fee", "Per Unit"),
    "Product.Category": ("Base Products", "Add On Services", "Miscellaneous Products"),
    "RatePlan.AmendmentType": ("NewProduct", "UpdateProduct", "RemoveProduct"),
    "Amendment.Type": ("NewProduct", "UpdateProduct", "RemoveProduct", "Renewal", "TermsAndConditions"),
    "Amendment.Status": ("Completed", "Completed", "Draft", "Pending Activation"),
    "Invoice.Status": ("Posted", "Posted", "Posted", "Draft", "Canceled"),
    "InvoiceItem.ProcessingType": ("0", "0", "0", "1"),
    "TaxMode": ("TaxExclusive", "TaxInclusive"),
    "InvoiceItemAdjustment.Type": ("Credit", "Charge"),
    "InvoiceItemAdjustment.Status": ("Processed", "Processed", "Canceled"),
    "InvoiceItemAdjustment.SourceType": ("InvoiceDetail", "Tax"),
    "Payment.Status": ("Processed", "Processed", "Processed", "Error", "Canceled"),
    "Type": ("Electronic", "External"),
    "GatewayState": ("NotSubmitted", "Submitted", "Settled", "Settled", "FailedToSettle"),
    "PaymentMethod.Type": ("CreditCard", "CreditCard", "ACH", "PayPal", "BankTransfer"),
    "PaymentMethodStatus": ("Active", "Active", "Active", "Closed"),
    "CreditCardType": ("Visa", "MasterCard", "AmericanExpress", "Discover"),
    "Refund.Status": ("Processed", "Processed", "Processing", "Error", "Canceled"),
    "Refund.SourceType": ("Payment", "CreditMemo"),
    "CreditMemo.Status": ("Posted", "Posted", "Draft", "Canceled"),
    "DebitMemo.Status": ("Posted", "Posted", "Draft", "Canceled"),
    "Usage.SourceType": ("API", "Import"),
    "RbeStatus": ("Pending", "Processed", "Processed"),
    "TaxRateType": ("Percentage", "Percentage", "FlatFee"),
    "BillingRun.Status": ("Completed", "Completed", "Posted", "Pending", "Processing", "Error", "Canceled"),
    "Order.Status": ("Completed", "Completed", "Draft", "Pending", "Cancelled"),
    "Order.Category": ("NewSales", "NewSales", "Return"),
    "OrderAction.Type": ("AddProduct", "UpdateProduct", "RemoveProduct", "Renewal", "TermsAndConditions"),
    "JournalEntry.Status": ("Created", "Created", "Cancelled"),
    "TransactionType": ("Invoice Item", "Invoice Item", "Taxation Item", "Electronic Payment", "External Payment",
                        "Electronic Refund", "Credit Memo Item"),
}

TEXT_POOLS: dict[str, tuple[str | None, ...]] = {
    "Account.Name": COMPANIES,
    "Notes": NOTES,
    "Comments": NOTES,
    "Comment": NOTES,
    "Description": NOTES,
    "ReasonCode": ("Write-off", "Correcting invoice error", "Customer satisfaction", "Standard Adjustment"),
    "FirstName": FIRST_NAMES,
    "LastName": LAST_NAMES,
    "City": CITIES,
    "State": STATES,
    "Country": COUNTRIES,
    "Address1": STREETS,
    "Currency": CURRENCIES,
    "HomeCurrency": ("USD",),
    "UOM": UOMS,
    "Jurisdiction": JURISDICTIONS,
    "Gateway": ("Stripe", "Adyen", "Braintree", "Test Gateway"),
    "PaymentTerm": ("Due Upon Receipt", "Net 30", "Net 45", "Net 60"),
    "Name": PRODUCTS,
    "CreditCardMaskNumber": ("************1111", "************4242", "************0005"),
    "Region__c": REGIONS,
    "TaxCode": ("TX-STD", "TX-EXEMPT", "TX-DIGITAL"),
}

# Share of null values for optional fields (all other fields are always filled).
NULL_RATES: dict[str, float] = {
    "Notes": 0.4, "Comments": 0.4, "Comment": 0.4, "Description": 0.3, "CrmId": 0.3, "VATId": 0.6,
    "ReasonCode": 0.3, "State": 0.1, "LastInvoiceDate": 0.2, "SettledOn": 0.3, "PostedDate": 0.1,
    "PostedOn": 0.2, "CancelledDate": 0.8, "LastTransactionDateTime": 0.2, "ChargedThroughDate": 0.3,
    "EffectiveEndDate": 0.5, "EndingUnit": 0.5, "ExecutedDate": 0.1, "ReferenceId": 0.2,
}

# Fields whose value changes from one version of a record to the next (others are fixed at creation).
MUTABLE: dict[str, tuple[str, ...]] = {
    "Account": ("Balance", "CreditBalance", "TotalInvoiceBalance", "UnappliedBalance", "Mrr", "Notes", "AutoPay"),
    "Contact": ("WorkPhone", "Address1", "City"),
    "Subscription": ("AutoRenew", "Notes"),
    "RatePlan": ("Name",),
    "RatePlanCharge": ("Quantity", "MRR", "TCV", "ChargedThroughDate"),
    "RatePlanChargeTier": ("Price",),
    "Product": ("Description", "EffectiveEndDate"),
    "ProductRatePlan": ("Description",),
    "ProductRatePlanCharge": ("DefaultQuantity",),
    "ProductRatePlanChargeTier": ("Price", "Active"),
    "Amendment": ("Status",),
    "Invoice": ("Status", "Balance", "PaymentAmount", "Comments"),
    "InvoiceItem": ("TaxAmount",),
    "InvoiceItemAdjustment": ("Status", "Comment"),
    "Payment": ("Status", "GatewayState", "SettledOn", "AppliedAmount", "UnappliedAmount"),
    "PaymentMethod": ("PaymentMethodStatus", "LastTransactionDateTime", "NumConsecutiveFailures"),
    "InvoicePayment": ("RefundAmount",),
    "Refund": ("Status",),
    "CreditMemo": ("Status", "AppliedAmount", "Balance"),
    "CreditMemoItem": ("Amount",),
    "DebitMemo": ("Status", "Balance"),
    "DebitMemoItem": ("Amount",),
    "Usage": ("RbeStatus",),
    "TaxationItem": ("TaxAmount",),
    "BillingRun": ("Status", "NumberOfInvoices"),
    "Order": ("Status",),
    "OrderAction": ("AutoRenew",),
    "JournalEntry": ("Status", "Notes"),
}

# Mean number of updates per record (Poisson, capped at 3); records of other models use DEFAULT_UPDATES.
UPDATES: dict[str, float] = {"InvoiceItem": 0.15, "TaxationItem": 0.15, "Product": 0.3, "ProductRatePlan": 0.3}
DEFAULT_UPDATES = 0.6
DELETE_RATE = 0.05  # of the records that no other record references

# Decimal places of generated decimal fields (money, the default, has 2).
DECIMAL_PLACES: dict[str, int] = {
    "Quantity": 3, "Usage.Quantity": 9, "TaxRate": 6, "UnitPrice": 4, "Price": 4, "DefaultQuantity": 2,
    "StartingUnit": 0, "EndingUnit": 0,
}

USERS = tuple(f"{i:032x}" for i in (0x2C92A0FD4B1F6E3A014B2E6F1D3C0001, 0x2C92A0FD4B1F6E3A014B2E6F1D3C0002,
                                      0x2C92A0FD4B1F6E3A014B2E6F1D3C0003))

NUMBER_PREFIXES: dict[str, str] = {
    "Account.AccountNumber": "A", "Invoice.InvoiceNumber": "INV", "Payment.PaymentNumber": "P-",
    "Refund.RefundNumber": "R-", "CreditMemo.MemoNumber": "CM", "DebitMemo.MemoNumber": "DM",
    "RatePlanCharge.ChargeNumber": "C-", "Amendment.Code": "A-AM", "BillingRun.BillingRunNumber": "BR-",
    "Order.OrderNumber": "O-", "JournalEntry.Number": "JE-", "InvoiceItemAdjustment.AdjustmentNumber": "IIA-",
    "Product.ProductNumber": "PC-", "Product.SKU": "SKU-",
}


def lookup(table: dict, obj: str, field: str, default=None):
    """`table["Obj.Field"]`, else `table["Field"]`, else `default`."""
    return table.get(f"{obj}.{field}", table.get(field, default))
