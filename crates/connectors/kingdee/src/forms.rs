//! What Ferry knows of the standard forms (primary key, number field, base data or bill),
//! so that a flow names only the form. Any other form works when its source or target names
//! `id` and `number`. From the dossier's form table (`shared/docs/apis/kingdee-k3cloud.md`
//! §7); custom forms and fields (`F_<prefix>_<name>`) differ per tenant.

/// One known form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    pub id: &'static str,
    pub number: &'static str,
    /// Base data (customers, materials): allocated to organisations, `FForbidStatus`.
    pub base_data: bool,
}

const fn base(id: &'static str) -> Form {
    Form {
        id,
        number: "FNumber",
        base_data: true,
    }
}

const fn bill() -> Form {
    Form {
        id: "FID",
        number: "FBillNo",
        base_data: false,
    }
}

const KNOWN: &[(&str, Form)] = &[
    ("BD_Customer", base("FCUSTID")),
    ("BD_MATERIAL", base("FMATERIALID")),
    ("BD_Supplier", base("FSupplierId")),
    (
        "BD_SAL_PriceList",
        Form {
            id: "FID",
            number: "FNumber",
            base_data: false,
        },
    ),
    ("SAL_SaleOrder", bill()),
    ("SAL_OUTSTOCK", bill()),
    ("SAL_DELIVERYNOTICE", bill()),
    ("SAL_QUOTATION", bill()),
    ("AR_receivable", bill()),
    ("AR_RECEIVEBILL", bill()),
    ("PUR_PurchaseOrder", bill()),
    ("STK_Inventory", bill()),
];

/// The form `name` if Ferry knows it (form ids compare without case, as Kingdee's do).
pub fn known(name: &str) -> Option<&'static Form> {
    KNOWN
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, f)| f)
}

/// The forms `ferry discover` lists.
pub fn names() -> impl Iterator<Item = &'static str> {
    KNOWN.iter().map(|(n, _)| *n)
}
