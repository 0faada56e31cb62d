//! The forms (业务对象) the double serves, as metadata: header fields, the one entry
//! (分录) of a bill, references to base data, which fields the server sets, which are
//! required. Queries, views, saves and the seed all read this table, so a field exists for
//! all of them or for none.

use super::catalog::{self, Item};

/// What a reference field points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Records of another form (`BD_Customer`, `BD_MATERIAL`), by their `FNumber`.
    Form(&'static str),
    /// Fixed base data (organisations, warehouses, units …), see [`catalog`].
    Fixed(&'static [Item]),
}

/// The type of a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Quantities, prices and amounts: answered as JSON floats.
    Decimal,
    /// Internal ids stored on a record (source-bill links): answered as JSON integers.
    Int,
    Bool,
    /// A date and time, stored as `yyyy-MM-ddTHH:mm:ss` in the server's local time.
    Date,
    /// The record's creation time (set by the store).
    Created,
    /// The record's last modification time (set by the store on every write).
    Modified,
    /// A reference, stored as `{"FNumber": "…"}`.
    Ref(Target),
}

/// What a create fills in when the client gave no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    Nothing,
    Value(&'static str),
    /// Today's date in the server's time zone.
    Today,
}

/// One field of a header or an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field key (标识) used by Save and queries: `FCustId`.
    pub key: &'static str,
    /// The caption (名称) the server's messages name the field by: `客户`.
    pub caption: &'static str,
    pub kind: Kind,
    /// Refused when empty on save (`字段[客户]是必录字段`).
    pub required: bool,
    /// Set by the server only (status, approval date, computed amounts): a client's value
    /// is ignored.
    pub server: bool,
    pub fill: Fill,
}

impl Field {
    const fn new(key: &'static str, caption: &'static str, kind: Kind) -> Self {
        Self {
            key,
            caption,
            kind,
            required: false,
            server: false,
            fill: Fill::Nothing,
        }
    }

    const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    const fn server(mut self) -> Self {
        self.server = true;
        self
    }

    const fn fill(mut self, fill: Fill) -> Self {
        self.fill = fill;
        self
    }

    /// The entity property name `View` answers for this field: the key without its
    /// leading `F` (`FCustId` → `CustId`).
    pub fn property(&self) -> &'static str {
        property_of(self.key)
    }
}

/// The property name of a field or entry key: without the leading `F`.
pub fn property_of(key: &'static str) -> &'static str {
    key.strip_prefix('F').unwrap_or(key)
}

/// A bill's entry (分录): lines with an `FEntryID` of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The entry key: `FSaleOrderEntry`. Lines are stored under it as an array.
    pub key: &'static str,
    pub caption: &'static str,
    pub fields: &'static [Field],
}

/// The key of a line's id inside an entry, as Save sends it.
pub const ENTRY_ID: &str = "FEntryID";

/// How a line's amounts are computed from its quantity and prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pricing {
    pub qty: &'static str,
    /// Quantity × price (tax excluded).
    pub amount: &'static str,
    /// Quantity × tax-included price.
    pub all_amount: &'static str,
}

/// A header field holding the sum of one line field over the lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Total {
    pub header: &'static str,
    pub line: &'static str,
}

/// One form (FormId).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Form {
    pub id: &'static str,
    pub caption: &'static str,
    /// The primary-key field: the store's record id.
    pub pk: &'static str,
    /// The number field (`FNumber` for base data, `FBillNo` for bills), unique per form
    /// and the store's business key; absent for query-only forms.
    pub number: Option<&'static str>,
    /// Prefix and digits of numbers the server assigns (`XSDD` + 6 → `XSDD000001`).
    pub number_prefix: &'static str,
    pub number_digits: usize,
    /// Base data (can be allocated, forbidden and enabled) rather than a bill.
    pub base_data: bool,
    /// Served by queries only (no Save, View or operations).
    pub query_only: bool,
    /// Sub-header objects whose fields a Save model nests (`FSaleOrderFinance`,
    /// `SubHeadEntity`); the double stores and queries them flat on the header.
    pub sub_headers: &'static [&'static str],
    pub header: &'static [Field],
    pub entry: Option<Entry>,
    pub pricing: Option<Pricing>,
    pub total: Option<Total>,
}

impl Form {
    /// The header field with this key (keys compare without case, as on the server).
    pub fn header_field(&self, key: &str) -> Option<&'static Field> {
        self.header.iter().find(|f| f.key.eq_ignore_ascii_case(key))
    }

    /// The entry field with this key.
    pub fn entry_field(&self, key: &str) -> Option<&'static Field> {
        self.entry?
            .fields
            .iter()
            .find(|f| f.key.eq_ignore_ascii_case(key))
    }

    /// The `FDocumentStatus` field exists on every form but the inventory.
    pub fn has_status(&self) -> bool {
        self.header_field(DOCUMENT_STATUS).is_some()
    }
}

pub const DOCUMENT_STATUS: &str = "FDocumentStatus";
pub const FORBID_STATUS: &str = "FForbidStatus";
pub const APPROVE_DATE: &str = "FApproveDate";

/// The reference field of the organisation that created base data.
const fn org(key: &'static str, caption: &'static str) -> Field {
    Field::new(key, caption, Kind::Ref(Target::Fixed(catalog::ORGS)))
}

const fn text(key: &'static str, caption: &'static str) -> Field {
    Field::new(key, caption, Kind::Text)
}

const fn decimal(key: &'static str, caption: &'static str) -> Field {
    Field::new(key, caption, Kind::Decimal)
}

const fn date(key: &'static str, caption: &'static str) -> Field {
    Field::new(key, caption, Kind::Date)
}

const fn reference(key: &'static str, caption: &'static str, target: Target) -> Field {
    Field::new(key, caption, Kind::Ref(target))
}

const CUSTOMER: Target = Target::Form("BD_Customer");
const MATERIAL: Target = Target::Form("BD_MATERIAL");
const UNIT: Target = Target::Fixed(catalog::UNITS);
const CURRENCY: Target = Target::Fixed(catalog::CURRENCIES);
const STOCK: Target = Target::Fixed(catalog::STOCKS);

const STATUS: Field = text(DOCUMENT_STATUS, "数据状态").server();
/// A tenant custom field (`F_<prefix>_<name>`) holding another system's id, for upserts
/// by external key. Invented: each tenant defines its own.
pub const EXTERNAL_ID: &str = "F_FERRY_ExtId";
const EXT_ID: Field = text(EXTERNAL_ID, "外部系统编号");
const FORBID: Field = text(FORBID_STATUS, "禁用状态").server();
const CREATED: Field = Field::new("FCreateDate", "创建日期", Kind::Created).server();
const MODIFIED: Field = Field::new("FModifyDate", "修改日期", Kind::Modified).server();
const APPROVED: Field = date(APPROVE_DATE, "审核日期").server();
const CREATE_ORG: Field = org("FCreateOrgId", "创建组织").fill(Fill::Value("100"));
const USE_ORG: Field = org("FUseOrgId", "使用组织").fill(Fill::Value("100"));

pub const BD_CUSTOMER: Form = Form {
    id: "BD_Customer",
    caption: "客户",
    pk: "FCUSTID",
    number: Some("FNumber"),
    number_prefix: "CUST",
    number_digits: 4,
    base_data: true,
    query_only: false,
    sub_headers: &[],
    header: &[
        text("FNumber", "编码"),
        text("FName", "客户名称").required(),
        text("FShortName", "简称"),
        text("FTEL", "联系电话"),
        text("FADDRESS", "通讯地址"),
        text("FTAXREGISTERCODE", "纳税登记号"),
        CREATE_ORG,
        USE_ORG,
        reference("FTRADINGCURRID", "结算币别", CURRENCY),
        decimal("FCreditAmount", "信用额度"),
        EXT_ID,
        STATUS,
        FORBID,
        CREATED,
        MODIFIED,
    ],
    entry: None,
    pricing: None,
    total: None,
};

pub const BD_MATERIAL: Form = Form {
    id: "BD_MATERIAL",
    caption: "物料",
    pk: "FMATERIALID",
    number: Some("FNumber"),
    number_prefix: "MAT",
    number_digits: 4,
    base_data: true,
    query_only: false,
    sub_headers: &["SubHeadEntity"],
    header: &[
        text("FNumber", "编码"),
        text("FName", "名称").required(),
        text("FSpecification", "规格型号"),
        reference("FBaseUnitId", "基本单位", UNIT),
        EXT_ID,
        CREATE_ORG,
        USE_ORG,
        STATUS,
        FORBID,
        CREATED,
        MODIFIED,
    ],
    entry: None,
    pricing: None,
    total: None,
};

pub const STK_INVENTORY: Form = Form {
    id: "STK_Inventory",
    caption: "即时库存",
    pk: "FID",
    number: None,
    number_prefix: "",
    number_digits: 0,
    base_data: false,
    query_only: true,
    sub_headers: &[],
    header: &[
        reference("FMaterialId", "物料编码", MATERIAL),
        reference("FStockId", "仓库", STOCK),
        org("FStockOrgId", "库存组织"),
        reference("FBaseUnitId", "基本单位", UNIT),
        decimal("FBaseQty", "库存量(基本单位)"),
        decimal("FQty", "库存量(库存单位)"),
    ],
    entry: None,
    pricing: None,
    total: None,
};

pub const BD_SAL_PRICELIST: Form = Form {
    id: "BD_SAL_PriceList",
    caption: "销售价目表",
    pk: "FID",
    number: Some("FNumber"),
    number_prefix: "XSJMB",
    number_digits: 4,
    base_data: true,
    query_only: false,
    sub_headers: &[],
    header: &[
        text("FNumber", "编码"),
        text("FName", "名称").required(),
        CREATE_ORG,
        reference("FCurrencyId", "币别", CURRENCY),
        STATUS,
        FORBID,
        CREATED,
        MODIFIED,
    ],
    entry: Some(Entry {
        key: "FEntity",
        caption: "价格明细",
        fields: &[
            reference("FMaterialId", "物料编码", MATERIAL).required(),
            reference("FPriceUnitId", "计价单位", UNIT),
            decimal("FPrice", "价格").required(),
        ],
    }),
    pricing: None,
    total: None,
};

pub const SAL_SALEORDER: Form = Form {
    id: "SAL_SaleOrder",
    caption: "销售订单",
    pk: "FID",
    number: Some("FBillNo"),
    number_prefix: "XSDD",
    number_digits: 6,
    base_data: false,
    query_only: false,
    sub_headers: &["FSaleOrderFinance"],
    header: &[
        text("FBillNo", "单据编号"),
        date("FDate", "日期").fill(Fill::Today),
        org("FSaleOrgId", "销售组织").required(),
        reference("FCustId", "客户", CUSTOMER).required(),
        text("FNote", "备注"),
        EXT_ID,
        reference("FSettleCurrId", "结算币别", CURRENCY).fill(Fill::Value("PRE001")),
        Field::new("FIsIncludedTax", "是否含税", Kind::Bool),
        decimal("FBillAllAmount", "价税合计").server(),
        STATUS,
        CREATED,
        MODIFIED,
        APPROVED,
    ],
    entry: Some(Entry {
        key: "FSaleOrderEntry",
        caption: "订单明细",
        fields: &[
            reference("FMaterialId", "物料编码", MATERIAL).required(),
            reference("FUnitID", "销售单位", UNIT),
            decimal("FQty", "销售数量").required(),
            decimal("FPrice", "单价"),
            decimal("FTaxPrice", "含税单价"),
            decimal("FEntryTaxRate", "税率%"),
            decimal("FAmount", "金额").server(),
            decimal("FAllAmount", "价税合计").server(),
            date("FDeliveryDate", "要货日期"),
            text("FEntryNote", "备注"),
        ],
    }),
    pricing: Some(Pricing {
        qty: "FQty",
        amount: "FAmount",
        all_amount: "FAllAmount",
    }),
    total: Some(Total {
        header: "FBillAllAmount",
        line: "FAllAmount",
    }),
};

pub const SAL_OUTSTOCK: Form = Form {
    id: "SAL_OUTSTOCK",
    caption: "销售出库单",
    pk: "FID",
    number: Some("FBillNo"),
    number_prefix: "XSCKD",
    number_digits: 6,
    base_data: false,
    query_only: false,
    sub_headers: &["SubHeadEntity"],
    header: &[
        text("FBillNo", "单据编号"),
        date("FDate", "日期").fill(Fill::Today),
        org("FStockOrgId", "发货组织").required(),
        org("FSaleOrgId", "销售组织"),
        reference("FCustomerID", "客户", CUSTOMER).required(),
        text("FNote", "备注"),
        STATUS,
        CREATED,
        MODIFIED,
        APPROVED,
    ],
    entry: Some(Entry {
        key: "FEntity",
        caption: "明细信息",
        fields: &[
            reference("FMaterialID", "物料编码", MATERIAL).required(),
            reference("FUnitID", "库存单位", UNIT),
            decimal("FRealQty", "实发数量").required(),
            reference("FStockID", "仓库", STOCK),
            decimal("FPrice", "单价"),
            decimal("FTaxPrice", "含税单价"),
            decimal("FEntryTaxRate", "税率%"),
            decimal("FAmount", "金额").server(),
            decimal("FAllAmount", "价税合计").server(),
            text("FSrcBillTypeId", "源单类型"),
            text("FSrcBillNo", "源单编号"),
            text("FSoorDerno", "订单单号"),
            Field::new("FEntity_Link_FSBillId", "源单内码", Kind::Int),
            Field::new("FEntity_Link_FSId", "源单分录内码", Kind::Int),
        ],
    }),
    pricing: Some(Pricing {
        qty: "FRealQty",
        amount: "FAmount",
        all_amount: "FAllAmount",
    }),
    total: None,
};

pub const AR_RECEIVABLE: Form = Form {
    id: "AR_receivable",
    caption: "应收单",
    pk: "FID",
    number: Some("FBillNo"),
    number_prefix: "AR",
    number_digits: 8,
    base_data: false,
    query_only: false,
    sub_headers: &["FsubHeadFinc"],
    header: &[
        text("FBillNo", "单据编号"),
        date("FDATE", "业务日期").fill(Fill::Today),
        date("FENDDATE_H", "到期日"),
        reference("FCUSTOMERID", "客户", CUSTOMER).required(),
        reference("FCURRENCYID", "币别", CURRENCY).fill(Fill::Value("PRE001")),
        org("FSETTLEORGID", "结算组织").required(),
        decimal("FALLAMOUNTFOR", "价税合计").server(),
        text("FCancelStatus", "作废状态")
            .server()
            .fill(Fill::Value("A")),
        STATUS,
        CREATED,
        MODIFIED,
        APPROVED,
    ],
    entry: Some(Entry {
        key: "FEntityDetail",
        caption: "明细",
        fields: &[
            reference("FMATERIALID", "物料编码", MATERIAL).required(),
            decimal("FPriceQty", "计价数量").required(),
            decimal("FPrice", "单价"),
            decimal("FTaxPrice", "含税单价"),
            decimal("FEntryTaxRate", "税率%"),
            decimal("FNoTaxAmountFor_D", "不含税金额").server(),
            decimal("FALLAMOUNTFOR_D", "价税合计").server(),
            text("FSOURCETYPE", "源单类型"),
            text("FSOURCEBILLNO", "源单编号"),
            text("FORDERNUMBER", "销售订单号"),
            Field::new("FEntityDetail_Link_FSBillId", "源单内码", Kind::Int),
            Field::new("FEntityDetail_Link_FSId", "源单分录内码", Kind::Int),
        ],
    }),
    pricing: Some(Pricing {
        qty: "FPriceQty",
        amount: "FNoTaxAmountFor_D",
        all_amount: "FALLAMOUNTFOR_D",
    }),
    total: Some(Total {
        header: "FALLAMOUNTFOR",
        line: "FALLAMOUNTFOR_D",
    }),
};

pub const AR_RECEIVEBILL: Form = Form {
    id: "AR_RECEIVEBILL",
    caption: "收款单",
    pk: "FID",
    number: Some("FBillNo"),
    number_prefix: "SKD",
    number_digits: 8,
    base_data: false,
    query_only: false,
    sub_headers: &[],
    header: &[
        text("FBillNo", "单据编号"),
        date("FDATE", "业务日期").fill(Fill::Today),
        text("FCONTACTUNITTYPE", "往来单位类型").fill(Fill::Value("BD_Customer")),
        reference("FCONTACTUNIT", "往来单位", CUSTOMER).required(),
        text("FPAYUNITTYPE", "付款单位类型").fill(Fill::Value("BD_Customer")),
        reference("FPAYUNIT", "付款单位", CUSTOMER),
        reference("FCURRENCYID", "币别", CURRENCY).fill(Fill::Value("PRE001")),
        org("FPAYORGID", "收款组织"),
        org("FSETTLEORGID", "结算组织").required(),
        decimal("FRECEIVEAMOUNTFOR", "收款金额").server(),
        EXT_ID,
        STATUS,
        CREATED,
        MODIFIED,
        APPROVED,
    ],
    entry: Some(Entry {
        key: "FRECEIVEBILLENTRY",
        caption: "收款明细",
        fields: &[
            reference(
                "FSETTLETYPEID",
                "结算方式",
                Target::Fixed(catalog::SETTLE_TYPES),
            )
            .required(),
            reference("FPURPOSEID", "收款用途", Target::Fixed(catalog::PURPOSES)),
            decimal("FRECTOTALAMOUNTFOR", "应收金额").required(),
            decimal("FRECAMOUNTFOR_E", "收款金额"),
            Field::new("FSaleOrderID", "销售订单内码", Kind::Int),
        ],
    }),
    pricing: None,
    total: Some(Total {
        header: "FRECEIVEAMOUNTFOR",
        line: "FRECTOTALAMOUNTFOR",
    }),
};

/// Every form the double serves.
pub const FORMS: [&Form; 8] = [
    &BD_CUSTOMER,
    &BD_MATERIAL,
    &STK_INVENTORY,
    &BD_SAL_PRICELIST,
    &SAL_SALEORDER,
    &SAL_OUTSTOCK,
    &AR_RECEIVABLE,
    &AR_RECEIVEBILL,
];

/// The form with this FormId (FormIds compare without case).
pub fn form(id: &str) -> Option<&'static Form> {
    FORMS
        .iter()
        .copied()
        .find(|f| f.id.eq_ignore_ascii_case(id))
}
