// IANA enterprise numbers of BMC makers (Get Device ID's manufacturer ID): enough to name the
// usual suspects in `ironbay bmc probe`; any other prints as its number.
const NAMES: Readonly<Record<number, string>> = {
  2: 'IBM',
  11: 'Hewlett Packard Enterprise',
  343: 'Intel',
  674: 'Dell',
  10876: 'Supermicro',
  19046: 'Lenovo',
  20974: 'American Megatrends',
};

export const manufacturerName = (id: number): string => NAMES[id] ?? `IANA ${id}`;
