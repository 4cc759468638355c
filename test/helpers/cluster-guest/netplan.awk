# The cluster guest's reading of a NoCloud network-config in netplan version 2, the shape
# ironbay renders (test/helpers/cluster-guest.ts; run by busybox awk inside the guest):
#
#   ethernets:
#     eth0:
#       match:
#         macaddress: "02:aa:bb:cc:dd:ee"
#       set-name: eth0
#       mtu: 1450
#       addresses:
#         - 198.18.200.10/24
#       routes:
#         - to: default
#           via: 198.18.200.1
#
# Prints one line "ADDRESS MTU GATEWAY SET-NAME" ('-' for what is absent) for the ethernets
# entry whose match.macaddress is the variable `mac` (any case), and nothing when no entry
# matches or the entry has no IPv4 address. ADDRESS is its first IPv4 address with prefix;
# GATEWAY the `via` of its route to `default` (or 0.0.0.0/0), else its gateway4. Flow forms
# (`match: {macaddress: X}`, `addresses: [A]`, `- {to: default, via: G}`) are read too.
# Values keep only [0-9A-Za-z.:/_-], so the shell can split the line safely.

function clean(v) {
  sub(/^[ \t]+/, "", v)
  sub(/[ \t]+$/, "", v)
  if (v ~ /^".*"$/ || v ~ /^'.*'$/) v = substr(v, 2, length(v) - 2)
  gsub(/[^0-9A-Za-z.:\/_-]/, "", v)
  return v
}

function ipv4cidr(v) {
  return v ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+\/[0-9]+$/
}

# "key: value" → sets K and V (V empty for "key:").
function keyval(s,   i) {
  i = index(s, ":")
  if (i == 0) {
    K = ""
    V = ""
    return 0
  }
  K = clean(substr(s, 1, i - 1))
  V = substr(s, i + 1)
  sub(/^[ \t]+/, "", V)
  sub(/[ \t]+$/, "", V)
  return 1
}

# "{a: x, b: y}" → calls one_pair for each pair, in section `sect`.
function flow_map(s,   n, parts, j) {
  gsub(/^[ \t]*\{|\}[ \t]*$/, "", s)
  n = split(s, parts, ",")
  for (j = 1; j <= n; j++) if (keyval(parts[j])) one_pair(K, V)
}

function one_pair(k, v) {
  if (sect == "match" && k == "macaddress") nmac = clean(v)
  else if (sect == "routes" && k == "to") rto = clean(v)
  else if (sect == "routes" && k == "via") rvia = clean(v)
}

function end_route() {
  if ((rto == "default" || rto == "0.0.0.0/0") && rgw == "") rgw = rvia
  rto = ""
  rvia = ""
}

function end_nic() {
  end_route()
  if (nic != "" && !found && tolower(nmac) == want && addr != "") {
    found = 1
    gw = rgw != "" ? rgw : gw4
    print addr, (mtu == "" ? "-" : mtu), (gw == "" ? "-" : gw), (setname == "" ? "-" : setname)
  }
  nic = ""
  nmac = ""
  addr = ""
  mtu = ""
  rgw = ""
  gw4 = ""
  setname = ""
  sect = ""
  prop = -1
}

BEGIN {
  want = tolower(mac)
  ineth = 0
  nicind = -1
  prop = -1
}

{
  line = $0
  sub(/\r$/, "", line)
  if (line ~ /^[ \t]*(#.*)?$/) next
  # A comment after a value (values never hold " #").
  sub(/[ \t]+#.*$/, "", line)
  match(line, /^ */)
  ind = RLENGTH
  body = substr(line, ind + 1)

  # "ethernets:" at the top, or under "network:" (both forms are valid network-config).
  if (body ~ /^ethernets[ \t]*:/) {
    end_nic()
    ineth = 1
    ethind = ind
    nicind = -1
    next
  }
  if (ineth && ind <= ethind) {
    end_nic()
    ineth = 0
  }
  if (!ineth) next
  if (nicind < 0) nicind = ind
  if (ind <= nicind) {
    # A new entry under ethernets: "eth0:".
    end_nic()
    if (keyval(body)) nic = K
    next
  }
  if (nic == "") next
  if (prop < 0) prop = ind
  if (ind <= prop) {
    end_route()
    keyval(body)
    sect = K
    if (K == "mtu") mtu = clean(V)
    else if (K == "set-name") setname = clean(V)
    else if (K == "gateway4") gw4 = clean(V)
    else if (K == "match" && V ~ /^\{/) flow_map(V)
    else if (K == "addresses" && V ~ /^\[/) {
      gsub(/^\[|\][ \t]*$/, "", V)
      n = split(V, items, ",")
      for (j = 1; j <= n; j++) if (addr == "" && ipv4cidr(clean(items[j]))) addr = clean(items[j])
    }
    next
  }
  # Deeper: inside the current property's section.
  if (sect == "addresses") {
    if (body ~ /^-/) {
      v = substr(body, 2)
      # "- 198.18.200.10/24:" (an address with options below it) names the address too.
      sub(/:[ \t]*$/, "", v)
      v = clean(v)
      if (addr == "" && ipv4cidr(v)) addr = v
    }
  } else if (sect == "routes") {
    if (body ~ /^-/) {
      end_route()
      body = substr(body, 2)
      sub(/^[ \t]+/, "", body)
      if (body ~ /^\{/) {
        flow_map(body)
        end_route()
        next
      }
    }
    if (keyval(body)) one_pair(K, V)
  } else if (sect == "match") {
    if (keyval(body)) one_pair(K, V)
  }
}

END {
  end_nic()
}
