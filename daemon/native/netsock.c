// Sockets that Node's dgram cannot make: a UDP socket bound to one network device
// (SO_BINDTODEVICE), so the boot plane hears and answers only on the boot interfaces, and a
// raw ICMPv6 socket on one device for router advertisements. Node adopts the UDP descriptor
// through dgram's bind({ fd }) and from then on owns it; this file only creates sockets.
//
// Built by setup.sh with the C compiler against the pinned Node's own headers (no node-gyp:
// one file, no dependencies). Loaded through daemon/native/netsock.ts.
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define THROW_ERRNO(env, what, dev)                                                        \
  do {                                                                                     \
    int e_ = errno;                                                                        \
    char msg_[256];                                                                        \
    snprintf(msg_, sizeof msg_, "%s on %s: %s", (what), (dev), strerror(e_));              \
    napi_throw_error((env), errno_code(e_), msg_);                                         \
    return NULL;                                                                           \
  } while (0)

// Closes a half-made socket and throws, keeping the errno of the call that failed.
#define CLOSE_AND_THROW(env, fd, what, dev) \
  do {                                      \
    int saved_ = errno;                     \
    close(fd);                              \
    errno = saved_;                         \
    THROW_ERRNO(env, what, dev);            \
  } while (0)

static const char *errno_code(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENODEV: return "ENODEV";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EINVAL: return "EINVAL";
    default: return "ESYSCALL";
  }
}

static int get_string(napi_env env, napi_value v, char *buf, size_t len) {
  size_t got = 0;
  if (napi_get_value_string_utf8(env, v, buf, len, &got) != napi_ok) return -1;
  return got < len - 1 ? 0 : -1;
}

// openUdp4(device: string, address: string, port: number, broadcast: boolean) => fd
static napi_value open_udp4(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char dev[IFNAMSIZ + 1], addr[INET_ADDRSTRLEN + 1];
  uint32_t port = 0;
  bool broadcast = false;
  if (argc != 4 || get_string(env, argv[0], dev, sizeof dev) || get_string(env, argv[1], addr, sizeof addr) ||
      napi_get_value_uint32(env, argv[2], &port) != napi_ok || port > 65535 ||
      napi_get_value_bool(env, argv[3], &broadcast) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "openUdp4(device, address, port, broadcast)");
    return NULL;
  }
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
    napi_throw_type_error(env, "EINVAL", "openUdp4: address is not an IPv4 address");
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) THROW_ERRNO(env, "socket", dev);
  int one = 1;
  // SO_REUSEADDR: one socket per boot interface, all on port 67; the kernel keeps them apart
  // by device, so each sees only its own interface's packets.
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev)) < 0 ||
      (broadcast && setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0)) {
    CLOSE_AND_THROW(env, fd, "setsockopt", dev);
  }
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
    CLOSE_AND_THROW(env, fd, "bind", dev);
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

// openIcmp6(device: string) => fd: raw ICMPv6, hop limit 255 as RFC 4861 requires of
// neighbour discovery, filtered to router solicitations.
static napi_value open_icmp6(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char dev[IFNAMSIZ + 1];
  if (argc != 1 || get_string(env, argv[0], dev, sizeof dev)) {
    napi_throw_type_error(env, "EINVAL", "openIcmp6(device)");
    return NULL;
  }
  int fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) THROW_ERRNO(env, "socket", dev);
  int hops = 255;
  struct icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  ICMP6_FILTER_SETPASS(ND_ROUTER_SOLICIT, &filter);
  // Solicitations go to all-routers (ff02::2), a group only routers are in: without joining
  // it, the kernel of a host that does not forward drops them before any socket sees them.
  struct ipv6_mreq all_routers = {.ipv6mr_interface = if_nametoindex(dev)};
  inet_pton(AF_INET6, "ff02::2", &all_routers.ipv6mr_multiaddr);
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev)) < 0 ||
      setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &all_routers, sizeof all_routers) < 0 ||
      setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) < 0 ||
      setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops) < 0 ||
      setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) < 0) {
    CLOSE_AND_THROW(env, fd, "setsockopt", dev);
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

// sendIcmp6(fd, device, destination: string, message: Buffer) => bytes sent. Non-blocking:
// a full socket buffer throws EAGAIN rather than stalling the event loop.
static napi_value send_icmp6(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  char dev[IFNAMSIZ + 1], dst[INET6_ADDRSTRLEN + 1];
  void *data = NULL;
  size_t len = 0;
  if (argc != 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || get_string(env, argv[1], dev, sizeof dev) ||
      get_string(env, argv[2], dst, sizeof dst) || napi_get_buffer_info(env, argv[3], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "sendIcmp6(fd, device, destination, message)");
    return NULL;
  }
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_scope_id = if_nametoindex(dev)};
  if (inet_pton(AF_INET6, dst, &sin6.sin6_addr) != 1) {
    napi_throw_type_error(env, "EINVAL", "sendIcmp6: destination is not an IPv6 address");
    return NULL;
  }
  ssize_t n = sendto(fd, data, len, 0, (struct sockaddr *)&sin6, sizeof sin6);
  if (n < 0) THROW_ERRNO(env, "sendto", dev);
  napi_value out;
  napi_create_int32(env, (int32_t)n, &out);
  return out;
}

// recvIcmp6(fd, buffer) => { bytes, from } or null when nothing is waiting (EAGAIN).
static napi_value recv_icmp6(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  void *data = NULL;
  size_t len = 0;
  if (argc != 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "recvIcmp6(fd, buffer)");
    return NULL;
  }
  struct sockaddr_in6 from;
  socklen_t fromlen = sizeof from;
  ssize_t n = recvfrom(fd, data, len, 0, (struct sockaddr *)&from, &fromlen);
  napi_value out;
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      napi_get_null(env, &out);
      return out;
    }
    THROW_ERRNO(env, "recvfrom", "icmp6 socket");
  }
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &from.sin6_addr, text, sizeof text);
  napi_value bytes, addr;
  napi_create_object(env, &out);
  napi_create_int32(env, (int32_t)n, &bytes);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &addr);
  napi_set_named_property(env, out, "bytes", bytes);
  napi_set_named_property(env, out, "from", addr);
  return out;
}

static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc == 1 && napi_get_value_int32(env, argv[0], &fd) == napi_ok && fd > 2) close(fd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"openUdp4", NULL, open_udp4, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openIcmp6", NULL, open_icmp6, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendIcmp6", NULL, send_icmp6, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvIcmp6", NULL, recv_icmp6, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
