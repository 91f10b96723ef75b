# vmnet.sh: two network namespaces joined the way two VMs on one host are
# (the "generic path"): PREFIX-a and PREFIX-b, each with a veth into a
# bridge in PREFIX-br, addresses NET.1 and NET.2 (/24).  Sourced by
# bench scripts:   vmnet_up PREFIX NET;  ...;  vmnet_down PREFIX
vmnet_up() { # PREFIX NET (e.g. 169.254.78)
	vp=$1 vnet=$2
	ip netns add "$vp-a" && ip netns add "$vp-b" && ip netns add "$vp-br" ||
		return 1
	for n in a b; do
		ip link add "$vp-$n" type veth peer name "br-$n" || return 1
		ip link set "$vp-$n" netns "$vp-$n"
		ip link set "br-$n" netns "$vp-br"
	done
	ip -n "$vp-br" link add br0 type bridge
	for n in a b; do
		ip -n "$vp-br" link set "br-$n" master br0
		ip -n "$vp-br" link set "br-$n" up
	done
	ip -n "$vp-br" link set br0 up
	ip -n "$vp-a" addr add "$vnet.1/24" dev "$vp-a"
	ip -n "$vp-b" addr add "$vnet.2/24" dev "$vp-b"
	for n in a b; do
		ip -n "$vp-$n" link set lo up
		ip -n "$vp-$n" link set "$vp-$n" up
	done
}

vmnet_down() { # PREFIX
	for n in a b br; do ip netns del "$1-$n" 2>/dev/null; done
	return 0
}
